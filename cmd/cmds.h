/* cmds.h: the entry point of every role, called from evc.c's table. */
#ifndef EVC_CMDS_H
#define EVC_CMDS_H

int cmd_central(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_driver(int argc, char **argv);
int cmd_auth(int argc, char **argv);
int cmd_topics(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_fleet(int argc, char **argv);
int cmd_ocpp(int argc, char **argv);
int cmd_cps(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_web(int argc, char **argv);

#endif
