/* ydoc.h: evc's YAML files: libcyaml's typed load, and the line of every key from that same parse. */
#ifndef EVC_YDOC_H
#define EVC_YDOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <cyaml/cyaml.h>

#define YDOC_DEPTH_MAX 32	/* deeper nesting is hostile or broken */

enum ynode_type { YN_NULL, YN_SCALAR, YN_MAP, YN_SEQ };

/*
 * One value of the document as libcyaml's parse met it: the root, the
 * value of a key, or an entry of a sequence. Nodes are numbered in the
 * order of the file; the root is node 0, and 0 as a child or a sibling
 * means none.
 */
struct ynode {
	char *key;		/* NULL: the root or a sequence entry */
	char *text;		/* a scalar's text (YN_NULL too), else NULL */
	unsigned line;		/* of the key, else of the value */
	unsigned vline;		/* of the value */
	unsigned type;		/* enum ynode_type */
	unsigned parent;	/* the root is its own */
	unsigned child, last, next;	/* children in order, and siblings */
};

/* A container open while the parse runs. */
struct yframe {
	unsigned node;
	bool map;
	bool want_value;	/* a mapping that has read a key */
};

struct ydoc {
	const char *file;	/* for messages */
	struct ynode *nodes;
	unsigned nnodes, capnodes;
	const cyaml_schema_value_t *schema;
	void *data;		/* what libcyaml loaded, freed by ydoc_free() */
	/* The parse as it goes. */
	struct yframe frame[YDOC_DEPTH_MAX];
	unsigned depth;
	unsigned events, docs;
	unsigned at;		/* the node of the last event */
	bool at_key;		/* ... which was its key */
	/* What stopped the parse before libcyaml did, if anything. */
	const char *err, *err_detail;
	unsigned err_line;
};

/*
 * Loads the len bytes of buf, read from file, along schema: one parse,
 * whose events libcyaml types into *out and ydoc keeps as nodes. Returns
 * 0, or -1 after printing "FILE:LINE: what". Either way, ydoc_free()
 * frees d and *out.
 */
int ydoc_load(struct ydoc *d, const char *file, const char *buf, size_t len,
	      const cyaml_schema_value_t *schema, void **out);
void ydoc_free(struct ydoc *d);

/* The node at path ("cp.tick_ms", keys only), or NULL. */
const struct ynode *ydoc_find(const struct ydoc *d, const char *path);
/* The value of key in mapping n (the first, if twice), or NULL. */
const struct ynode *ydoc_child(const struct ydoc *d, const struct ynode *n,
			       const char *key);
/* The children of n in order: the first, then each one's next; NULL at the end. */
const struct ynode *ydoc_first(const struct ydoc *d, const struct ynode *n);
const struct ynode *ydoc_next(const struct ydoc *d, const struct ynode *n);

/*
 * "FILE:LINE: what" through error(), with the control characters of
 * the file's keys and values shown as \xHH: a message stays on one line
 * and cannot drive the terminal it is read on. Returns -1.
 */
__attribute__((format(printf, 3, 4)))
int ydoc_error(const struct ydoc *d, unsigned line, const char *fmt, ...);
__attribute__((format(printf, 3, 0)))
int ydoc_verror(const struct ydoc *d, unsigned line, const char *fmt,
		va_list ap);

/* No control character (C0, DEL or C1) in s. */
bool ydoc_text_ok(const char *s);

#endif
