// console.js: the browser console of evc web: CPs, counts, sessions and tickets, kept live by the server's events.
"use strict";

(() => {
const PAGE = 50;	// rows in the DOM at most
const TICKETS = 20;	// latest tickets shown
const SESSIONS = 50;	// sessions shown (the count says how many run)
const LOAD_STEP = 2000;	// CPs asked for at a time while loading

const $ = (sel) => document.querySelector(sel);
const cps = new Map();		// id -> CP object, every CP known
let ids = [];			// every id, sorted
let shown = [];			// ids that pass the filter, sorted
let rows = new Map();		// id -> <tr> on the page now
let page = 0;
let filter = { q: "", state: "" };
let counts = {};		// the server's, until the CPs are loaded
let total = 0;
let loaded = false;
let tickets = [];
let dirty = { list: false, side: false, counts: false };
let drawing = false;

// --- formatting ----------------------------------------------------------

const fix = (v, d) => (v === null || v === undefined ? "" : Number(v).toFixed(d));
const clock = (ms) => {
	if (!ms)
		return "";
	const t = new Date(ms);
	return t.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
};
// A price as set: two decimals at least, three when it has them.
const price = (v) => (v === null || v === undefined ? "" : Number(v).toFixed(3).replace(/(\.\d\d)0$/, "$1"));

function el(tag, attrs, ...kids)
{
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === "class")
			e.className = v;
		else
			e.setAttribute(k, v);
	}
	for (const k of kids)
		e.append(k);
	return e;
}

// --- messages to the operator --------------------------------------------

function error(text)
{
	const box = $("#errors");
	box.replaceChildren(el("p", {}, text));
	clearTimeout(error.timer);
	error.timer = setTimeout(() => box.replaceChildren(), 10000);
}

function note(text)
{
	const box = $("#notes");
	box.textContent = text;
	clearTimeout(note.timer);
	note.timer = setTimeout(() => { box.textContent = ""; }, 5000);
}

// --- the API -------------------------------------------------------------

// Asks for the token in a small dialog; resolves to it, or null. Two
// requests refused at once share one question.
let asking = null;
function askToken(why)
{
	if (asking)
		return asking;
	const dlg = $("#login"), input = $("#token");
	const back = document.activeElement;
	$("#login-why").textContent = why || "This needs the operator's token.";
	input.value = "";
	asking = new Promise((resolve) => {
		const done = () => {
			dlg.removeEventListener("close", done);
			asking = null;
			if (back && back.focus)
				back.focus();
			resolve(dlg.returnValue === "ok" && input.value ? input.value : null);
		};
		dlg.returnValue = "";
		dlg.addEventListener("close", done);
		$("#login-cancel").onclick = () => dlg.close("");
		dlg.showModal();
		input.focus();
	});
	return asking;
}

// A request, with the token kept for this tab; on 401 asks for one and
// tries again. Resolves to the JSON answer, or throws with the reason.
async function request(method, path, body)
{
	for (;;) {
		const headers = { Accept: "application/json" };
		const tok = sessionStorage.getItem("evc-token");
		if (tok)
			headers.Authorization = "Bearer " + tok;
		if (body !== undefined)
			headers["Content-Type"] = "application/json";
		const r = await fetch(path, { method, headers,
			body: body === undefined ? undefined : JSON.stringify(body) });
		let reply = null;
		try {
			reply = await r.json();
		} catch (e) {
			reply = null;
		}
		if (r.status === 401) {
			const why = tok ? "The token was refused" +
				(reply && reply.error ? ": " + reply.error : "") + "." : null;
			const t = await askToken(why);
			if (t === null)
				throw Object.assign(new Error(`${method} ${path}: not sent: no token`), { noToken: true });
			sessionStorage.setItem("evc-token", t);
			continue;
		}
		if (!r.ok) {
			let msg = `${method} ${path}: ${r.status}`;
			if (reply && reply.error)
				msg += `: ${reply.error}` + (reply.subject ? ` '${reply.subject}'` : "");
			throw new Error(msg);
		}
		return reply || {};
	}
}

const getJSON = (path) => request("GET", path);

async function act(method, path, body, done)
{
	try {
		const r = await request(method, path, body);
		note(done);
		return r;
	} catch (e) {
		error(e.message);
		return null;
	}
}

// --- the model -----------------------------------------------------------

function matches(cp)
{
	if (filter.state && cp.state !== filter.state)
		return false;
	if (!filter.q)
		return true;
	return cp.id.toLowerCase().includes(filter.q) ||
		(cp.location || "").toLowerCase().includes(filter.q);
}

function refilter()
{
	shown = ids.filter((id) => matches(cps.get(id)));
	const last = Math.max(0, Math.ceil(shown.length / PAGE) - 1);
	if (page > last)
		page = last;
}

// Keeps one CP; the newer of two versions wins (an event may pass a load).
// In bulk (a load), the ids are sorted once at the end, by the caller.
function keep(cp, bulk)
{
	const old = cps.get(cp.id);
	if (old && (old.updated || 0) > (cp.updated || 0))
		return;
	cps.set(cp.id, cp);
	if (!old) {
		ids.push(cp.id);
		if (!bulk)
			ids.sort();
	}
	if (!old || old.state !== cp.state)
		dirty.counts = true;
	if (cp.session || (old && old.session))
		dirty.side = true;
	if (!old || matches(old) !== matches(cp))
		dirty.list = true;
	else if (rows.has(cp.id))
		patch(cp);
	schedule();
}

function forget(id)
{
	if (!cps.delete(id))
		return;
	ids = ids.filter((i) => i !== id);
	dirty.list = dirty.counts = dirty.side = true;
	schedule();
}

// --- drawing -------------------------------------------------------------

function stateCell(cp)
{
	const td = el("td", { class: "state" },
		el("span", { class: "badge" }, el("span", { class: "dot", "aria-hidden": "true" }), cp.state));
	if (cp.state === "STOPPED")
		td.append(el("span", { class: "ooo" }, " Out of Order"));
	return td;
}

function cpRow(cp)
{
	const on = cp.state === "SUPPLYING" || cp.session;
	const tr = el("tr", { "data-id": cp.id, "data-state": cp.state },
		el("th", { scope: "row" }, cp.id),
		el("td", { class: "loc" }, cp.location || "",
			cp.registered === false ? el("span", { class: "note" }, " (not in the catalogue)") : ""),
		el("td", { class: "num" }, price(cp.price)),
		stateCell(cp),
		el("td", { class: "num kw" }, on ? fix(cp.kw, 1) : ""),
		el("td", { class: "num kwh" }, on ? fix(cp.kwh, 3) : ""),
		el("td", { class: "num eur" }, on ? fix(cp.eur, 2) : ""),
		el("td", { class: "driver" }, on && cp.driver ? cp.driver : ""),
		el("td", { class: "act" },
			cp.state === "STOPPED"
				? el("button", { type: "button", "data-do": "resume", "aria-label": "Resume " + cp.id }, "Resume")
				: el("button", { type: "button", "data-do": "stop", class: "stop", "aria-label": "Stop " + cp.id }, "Stop"),
			el("button", { type: "button", "data-do": "edit", class: "quiet", "aria-label": "Edit " + cp.id }, "Edit")));
	rows.set(cp.id, tr);
	return tr;
}

// Puts a newer version of a CP in its row, keeping the focus where it was.
function patch(cp)
{
	const old = rows.get(cp.id);
	const f = old.contains(document.activeElement) ? document.activeElement.dataset.do : null;
	const tr = cpRow(cp);
	old.replaceWith(tr);
	if (f)
		(tr.querySelector(`button[data-do="${f}"]`) || tr.querySelector("button")).focus();
}

function drawList()
{
	refilter();
	const from = page * PAGE;
	const part = shown.slice(from, from + PAGE);
	const body = $("#cps tbody");
	const hadFocus = body.contains(document.activeElement) ? document.activeElement : null;
	const focusKey = hadFocus ? [hadFocus.closest("tr").dataset.id, hadFocus.dataset.do] : null;
	rows = new Map();
	body.replaceChildren(...part.map((id) => cpRow(cps.get(id))));
	$("#empty").hidden = part.length > 0;
	$("#range").textContent = shown.length
		? `${from + 1}–${from + part.length} of ${shown.length}` : `0 of ${shown.length}`;
	$("#prev").disabled = page === 0;
	$("#next").disabled = from + PAGE >= shown.length;
	if (focusKey && rows.has(focusKey[0])) {
		const tr = rows.get(focusKey[0]);
		const b = tr.querySelector(`button[data-do="${focusKey[1]}"]`) || tr.querySelector("button");
		b.focus();
	}
}

// Counts of the CPs in memory once they are loaded; the server's until then.
function drawCounts()
{
	let n = counts, all = total;
	if (loaded) {
		n = {};
		for (const cp of cps.values())
			n[cp.state] = (n[cp.state] || 0) + 1;
		all = cps.size;
	}
	for (const b of document.querySelectorAll(".count")) {
		const s = b.dataset.state;
		b.querySelector(".n").textContent = s ? n[s] || 0 : all;
		b.setAttribute("aria-pressed", String(s === filter.state));
	}
}

function drawSide()
{
	const running = [];
	for (const cp of cps.values())
		if (cp.session)
			running.push(cp);
	running.sort((a, b) => (a.since || 0) - (b.since || 0) || (a.id < b.id ? -1 : 1));
	$("#n-sessions").textContent = running.length;
	$("#sessions tbody").replaceChildren(...running.slice(0, SESSIONS).map((cp) =>
		el("tr", { "data-id": cp.id },
			el("th", { scope: "row" }, cp.id),
			el("td", {}, cp.driver || ""),
			el("td", { class: "num" }, fix(cp.kw, 1)),
			el("td", { class: "num" }, fix(cp.kwh, 3)),
			el("td", { class: "num" }, fix(cp.eur, 2)),
			el("td", {}, clock(cp.since)))));
	if (!running.length)
		$("#sessions tbody").replaceChildren(none(6, "No supply in progress."));
	$("#tickets tbody").replaceChildren(...tickets.map((t) =>
		el("tr", {},
			el("td", {}, clock(t.ts)),
			el("th", { scope: "row" }, t.cp),
			el("td", {}, t.driver || ""),
			el("td", { class: "num" }, fix(t.kwh, 3)),
			el("td", { class: "num" }, fix(t.eur, 2)))));
	if (!tickets.length)
		$("#tickets tbody").replaceChildren(none(5, "No ticket yet."));
}

const none = (cols, text) => el("tr", {}, el("td", { colspan: cols, class: "none" }, text));

// Redraws what changed, once a frame at most: a burst of events costs one redraw.
function schedule()
{
	if (drawing)
		return;
	drawing = true;
	requestAnimationFrame(() => {
		drawing = false;
		if (dirty.list)
			drawList();
		if (dirty.counts || dirty.list)
			drawCounts();
		if (dirty.side)
			drawSide();
		dirty = { list: false, side: false, counts: false };
	});
}

// --- loading and events --------------------------------------------------

async function load()
{
	let offset = 0;
	const seen = new Set();
	for (;;) {
		const r = await getJSON(`/api/cps?offset=${offset}&limit=${LOAD_STEP}`);
		if (offset === 0) {
			counts = { ...(r.counts || {}) };
			total = r.total;
		}
		for (const cp of r.cps) {
			seen.add(cp.id);
			keep(cp, true);
		}
		offset += r.cps.length;
		if (!r.cps.length || offset >= r.total)
			break;
	}
	for (const id of [...cps.keys()])
		if (!seen.has(id))
			cps.delete(id);
	ids = [...cps.keys()].sort();
	loaded = true;
	const t = await getJSON("/api/tickets");
	tickets = (t.tickets || []).slice(0, TICKETS);
	dirty.list = dirty.counts = dirty.side = true;
	schedule();
}

function link(live, text)
{
	const p = $("#link");
	p.dataset.live = live ? "yes" : "no";
	p.textContent = text;
}

function takeCounts(c)
{
	if (!c)
		return;
	if (c.counts)
		counts = { ...c.counts };
	if (typeof c.total === "number")
		total = c.total;
	dirty.counts = true;
	schedule();
}

// Calls on(event, data) for each event of a text/event-stream body.
async function readEvents(body, on)
{
	const reader = body.pipeThrough(new TextDecoderStream()).getReader();
	let buf = "", type = "", data = [];
	for (;;) {
		const { value, done } = await reader.read();
		if (done)
			return;
		buf += value;
		const lines = buf.split(/\r\n|\r|\n/);
		buf = lines.pop();
		for (const line of lines) {
			if (line === "") {
				if (data.length)
					on(type || "message", data.join("\n"));
				type = "";
				data = [];
			} else if (line.startsWith("event:")) {
				type = line.slice(6).trim();
			} else if (line.startsWith("data:")) {
				data.push(line.slice(line[5] === " " ? 6 : 5));
			}
		}
	}
}

function onEvent(type, text)
{
	let d;
	try {
		d = JSON.parse(text);
	} catch (e) {
		error(`bad event '${type}' from the server`);
		return;
	}
	if (type === "hello") {
		link(true, "live");
		takeCounts(d);
	} else if (type === "cp" && d && typeof d.id === "string") {
		keep(d);
	} else if (type === "gone" && d && typeof d.id === "string") {
		forget(d.id);
	} else if (type === "ticket" && d) {
		tickets = [d, ...tickets].slice(0, TICKETS);
		dirty.side = true;
		schedule();
	} else if (type === "counts") {
		takeCounts(d);
	}
}

// The server's events, read with fetch rather than EventSource so that
// they can carry the token; after a break, everything is read again.
async function listen()
{
	for (let n = 0; ; n++) {
		let pause = 2000;
		try {
			const headers = { Accept: "text/event-stream" };
			const tok = sessionStorage.getItem("evc-token");
			if (tok)
				headers.Authorization = "Bearer " + tok;
			const r = await fetch("/api/events", { headers, cache: "no-store" });
			if (r.status === 401) {
				await getJSON("/api/cps?limit=1");	// asks for the token
				continue;
			}
			if (!r.ok || !r.body)
				throw new Error(`/api/events: ${r.status}`);
			if (n > 0)
				load().catch((e) => error(e.message));
			await readEvents(r.body, onEvent);
		} catch (e) {
			if (n === 0 || e.noToken)
				error("no live updates: " + e.message);
			if (e.noToken)
				pause = 30000;	// not the dialog again at once
		}
		link(false, "reconnecting…");
		await new Promise((res) => setTimeout(res, pause));
	}
}

// --- the operator's actions ----------------------------------------------

const cpPath = (id) => "/api/cps/" + encodeURIComponent(id);

function onTable(ev)
{
	const b = ev.target.closest("button[data-do]");
	if (!b)
		return;
	const id = b.closest("tr").dataset.id;
	if (b.dataset.do === "stop")
		act("POST", cpPath(id) + "/stop", undefined, `Stop sent to ${id}`);
	else if (b.dataset.do === "resume")
		act("POST", cpPath(id) + "/resume", undefined, `Resume sent to ${id}`);
	else if (b.dataset.do === "edit")
		edit(cps.get(id));
}

function edit(cp)
{
	if (!cp)
		return;
	$("#e-id").value = cp.id;
	$("#e-loc").value = cp.location || "";
	$("#e-price").value = cp.price ?? "";
	$("#e-power").value = cp.power_kw ?? "";
	$("#e-loc").focus();
}

async function save(ev)
{
	ev.preventDefault();
	const id = $("#e-id").value.trim();
	const body = { location: $("#e-loc").value.trim(), price: Number($("#e-price").value) };
	if ($("#e-power").value !== "")
		body.power_kw = Number($("#e-power").value);
	await act("PUT", cpPath(id), body, `${id} saved in the catalogue`);
}

async function remove()
{
	const id = $("#e-id").value.trim();
	if (!id) {
		error("name the CP to remove");
		$("#e-id").focus();
		return;
	}
	if (!confirm(`Remove ${id} from the catalogue?`))
		return;
	if (await act("DELETE", cpPath(id), undefined, `${id} removed from the catalogue`))
		forget(id);
}

function all(what)
{
	const n = cps.size;
	if (!confirm(`${what === "stop" ? "Stop" : "Resume"} all ${n} CPs?`))
		return;
	act("POST", `/api/${what}-all`, undefined, `${what === "stop" ? "Stop" : "Resume"} sent to every CP`);
}

function setFilter(change)
{
	Object.assign(filter, change);
	page = 0;
	dirty.list = true;
	schedule();
}

function start()
{
	$("#cps tbody").addEventListener("click", onTable);
	$("#stop-all").addEventListener("click", () => all("stop"));
	$("#resume-all").addEventListener("click", () => all("resume"));
	$("#edit").addEventListener("submit", save);
	$("#e-remove").addEventListener("click", remove);
	for (const b of document.querySelectorAll(".count"))
		b.addEventListener("click", () =>
			setFilter({ state: b.dataset.state === filter.state ? "" : b.dataset.state }));
	let timer;
	$("#q").addEventListener("input", (ev) => {
		clearTimeout(timer);
		timer = setTimeout(() => setFilter({ q: ev.target.value.trim().toLowerCase() }), 120);
	});
	$("#prev").addEventListener("click", () => { page = Math.max(0, page - 1); dirty.list = true; schedule(); });
	$("#next").addEventListener("click", () => { page++; dirty.list = true; schedule(); });
	listen();
	firstLoad();
}

// The first load, tried again until it works (evc web may be starting).
async function firstLoad()
{
	for (;;) {
		try {
			return await load();
		} catch (e) {
			error("cannot read the CPs: " + e.message);
			await new Promise((res) => setTimeout(res, e.noToken ? 30000 : 3000));
		}
	}
}

start();
})();
