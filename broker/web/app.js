/*
 * kwq-broker's dashboard: one page, three views chosen by the location hash.
 *
 *   #/                        the queues, live (overview every 2 s, a chart per queue)
 *   #/queues/<q>              one queue: counts, chart, dead letters, Kubernetes Jobs
 *   #/queues/<q>/tasks/<id>   one task and its history
 *
 * Everything comes from the broker's JSON API (docs/broker-api.md). Data reaches
 * the page only as text nodes and attribute values, never as markup, so a queue
 * name or an error text cannot inject anything. Stable data- attributes
 * (data-queue, data-field, data-dead-id, data-action) are what tests select on.
 */
'use strict';

(function () {
    const POLL_MS = 2000;
    const DEAD_PAGE = 50;
    const JOBS_EVERY_MS = 10000;
    const DEAD_EVERY_MS = 10000;
    const SVG_NS = 'http://www.w3.org/2000/svg';

    /* Counters of the queue list and queue page, in display order. */
    const COUNTS = [
        ['pending', 'Pending'], ['leased', 'Leased'], ['delayed', 'Delayed'], ['dead', 'Dead'],
        ['done', 'Done'], ['failed', 'Failed'],
    ];

    const state = {
        overview: null, /* the last /api/overview answer */
        route: null, /* {page, queue, id} of the view on screen */
        gen: 0, /* bumped per view: an answer for an older view is dropped */
        inflight: false, /* a refresh is running: a second one waits (again) */
        again: false,
        timer: 0,
        history: new Map(), /* queue -> {at, interval_ms, samples} */
        view: null, /* the current view's elements and its own state */
    };

    /* ---- DOM helpers: text only, never markup ---- */

    /*
     * el('td', {data: {field: 'x'}, class: 'n'}, 'text', node, null) builds an
     * element; strings become text nodes, null and false are skipped.
     */
    function el(tag, attrs, ...children) {
        const e = document.createElement(tag);
        setAttrs(e, attrs);
        append(e, children);
        return e;
    }

    function svg(tag, attrs, ...children) {
        const e = document.createElementNS(SVG_NS, tag);
        setAttrs(e, attrs);
        append(e, children);
        return e;
    }

    function setAttrs(e, attrs) {
        for (const [k, v] of Object.entries(attrs || {})) {
            if (v === null || v === undefined || v === false)
                continue;
            if (k === 'data')
                Object.entries(v).forEach(([dk, dv]) => {
                    if (dv !== undefined && dv !== null)
                        e.dataset[dk] = String(dv);
                });
            else if (k === 'on')
                Object.entries(v).forEach(([ev, fn]) => e.addEventListener(ev, fn));
            else
                e.setAttribute(k, v === true ? '' : String(v));
        }
    }

    function append(e, children) {
        for (const c of children.flat()) {
            if (c === null || c === undefined || c === false)
                continue;
            e.appendChild(typeof c === 'string' || typeof c === 'number'
                ? document.createTextNode(String(c)) : c);
        }
    }

    /* replaceChildren would turn a null child into the text "null": this skips it. */
    function fill(node, ...children) {
        node.replaceChildren();
        append(node, children);
    }

    function setText(e, text) {
        const t = String(text);
        if (e.textContent !== t)
            e.textContent = t;
    }

    /* The element of a list whose data-<key> equals value (no CSS escaping needed). */
    function findBy(list, key, value) {
        for (const e of list)
            if (e.dataset[key] === value)
                return e;
        return null;
    }

    /* ---- formatting ---- */

    function fmtCount(n) {
        return typeof n === 'number' ? String(n) : '–';
    }

    function fmtRate(r) {
        return typeof r === 'number' ? r.toFixed(1) : '–';
    }

    function fmtDuration(ms) {
        if (typeof ms !== 'number' || ms <= 0)
            return '0 s';
        const s = ms / 1000;
        if (s < 60)
            return `${s < 10 ? s.toFixed(1) : Math.floor(s)} s`;
        const m = Math.floor(s / 60);
        if (m < 60)
            return `${m} min ${Math.floor(s % 60)} s`;
        const h = Math.floor(m / 60);
        if (h < 48)
            return `${h} h ${m % 60} min`;
        return `${Math.floor(h / 24)} d ${h % 24} h`;
    }

    /* "2026-12-05 05:12:33 UTC" */
    function fmtTime(ms) {
        if (typeof ms !== 'number' || ms <= 0)
            return '–';
        return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    }

    /* A <time> with the absolute time and, against the broker's clock, how long ago. */
    function timeEl(ms) {
        if (typeof ms !== 'number' || ms <= 0)
            return el('span', {}, '–');
        const now = state.overview ? state.overview.broker.server_time_ms : Date.now();
        const ago = now - ms;
        const rel = ago >= 0 ? `${fmtDuration(ago)} ago` : `in ${fmtDuration(-ago)}`;
        return el('time', {datetime: new Date(ms).toISOString()}, `${fmtTime(ms)} (${rel})`);
    }

    function queueHref(q) {
        return '#/queues/' + encodeURIComponent(q);
    }

    function taskHref(q, id) {
        return queueHref(q) + '/tasks/' + encodeURIComponent(id);
    }

    /* ---- the API ---- */

    function apiPath(q, rest) {
        return '/api/queues/' + encodeURIComponent(q) + rest;
    }

    /* The JSON answer, or an Error carrying the broker's one-line reason and status. */
    async function api(path, opts) {
        const init = Object.assign({credentials: 'same-origin', cache: 'no-store'}, opts || {});
        init.headers = Object.assign({Accept: 'application/json'}, init.headers || {});
        /*
         * Against the origin, not the page's URL: a page opened as
         * http://user:pass@host/ would lend its credentials to a relative URL,
         * and fetch() refuses URLs with credentials. The browser's own HTTP
         * auth for the origin still goes with the request.
         */
        const res = await fetch(new URL(path, location.origin), init);
        const text = await res.text();
        let body = null;
        try {
            body = text ? JSON.parse(text) : null;
        } catch (e) {
            body = null;
        }
        if (!res.ok) {
            const why = body && typeof body.error === 'string' ? body.error
                : `HTTP ${res.status} ${res.statusText}`;
            const err = new Error(why);
            err.status = res.status;
            throw err;
        }
        if (body === null || typeof body !== 'object')
            throw new Error(`${path} did not answer JSON`);
        return body;
    }

    /* A write: the CSRF token of this broker process goes with it. */
    function post(path, body) {
        const ov = state.overview;
        return api(path, {
            method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': ov ? ov.broker.csrf : ''},
            body: JSON.stringify(body),
        });
    }

    /* ---- messages ---- */

    function showError(text) {
        const e = document.getElementById('error');
        e.hidden = !text;
        setText(e, text || '');
    }

    function showStatus(text) {
        setText(document.getElementById('status'), text);
    }

    /* ---- routing and the refresh loop ---- */

    function parseRoute() {
        const h = location.hash.replace(/^#\/?/, '');
        if (h === '')
            return {page: 'queues'};
        let parts;
        try {
            parts = h.split('/').map(decodeURIComponent);
        } catch (e) {
            return {page: 'missing'};
        }
        if (parts[0] === 'queues' && parts.length === 2 && parts[1] !== '')
            return {page: 'queue', queue: parts[1]};
        if (parts[0] === 'queues' && parts.length === 4 && parts[2] === 'tasks' && parts[1] !== '' &&
            parts[3] !== '')
            return {page: 'task', queue: parts[1], id: parts[3]};
        return {page: 'missing'};
    }

    const PAGES = {queues: queuesPage, queue: queuePage, task: taskPage, missing: missingPage};

    function route() {
        state.route = parseRoute();
        state.gen++;
        showStatus('');
        const main = document.getElementById('view');
        main.replaceChildren();
        state.view = PAGES[state.route.page](main, state.route);
        document.body.dataset.page = state.route.page;
        schedule(0);
    }

    function schedule(ms) {
        clearTimeout(state.timer);
        state.timer = setTimeout(tick, ms);
    }

    async function tick() {
        if (state.inflight) {
            state.again = true;
            return;
        }
        state.inflight = true;
        state.again = false;
        try {
            state.overview = await api('/api/overview');
            showError(null);
            renderBroker(state.overview);
            if (state.view && state.view.refresh)
                await state.view.refresh(state.overview, state.gen);
            document.body.dataset.ready = 'true';
        } catch (e) {
            showError(`Cannot read the broker: ${e.message}`);
            document.getElementById('broker').classList.add('stale');
        }
        state.inflight = false;
        schedule(state.again ? 0 : POLL_MS);
    }

    function renderBroker(ov) {
        const b = ov.broker;
        const box = document.getElementById('broker');
        box.classList.remove('stale');
        const field = (name) => box.querySelector(`[data-field="${name}"]`);
        setText(field('version'), b.version);
        setText(field('identity'), b.identity);
        setText(field('leader'), b.leader ? `yes (term ${b.term}, ${b.leader_backend})`
            : `no (term ${b.term}, ${b.leader_backend})`);
        setText(field('redis_up'), b.redis_up ? 'up' : 'DOWN');
        field('redis_up').classList.toggle('bad', !b.redis_up);
        setText(field('write'), b.write ? 'write (requeue and purge allowed)' : 'read-only');
        setText(field('updated'), fmtTime(b.server_time_ms));
        document.body.dataset.write = b.write ? 'true' : 'false';
    }

    /* ---- charts: throughput (done per second) and depth (pending) ---- */

    /*
     * Throughput comes from the difference of two samples' done totals over
     * their time apart; a counter that went down (a purge, a Redis restart)
     * counts as 0, not as a negative rate.
     */
    function series(samples) {
        const done = [];
        const pending = samples.map((s) => ({t: s.t, v: s.pending}));
        for (let i = 1; i < samples.length; i++) {
            const dt = (samples[i].t - samples[i - 1].t) / 1000;
            const dd = samples[i].done - samples[i - 1].done;
            done.push({t: samples[i].t, v: dt > 0 && dd > 0 ? dd / dt : 0});
        }
        return {done, pending};
    }

    function peak(points) {
        return points.reduce((m, p) => Math.max(m, p.v), 0);
    }

    function polyline(points, t0, span, w, h, max, cls, name) {
        const scale = max > 0 ? max : 1;
        const xy = points.map((p) => {
            const x = Math.max(0, (p.t - t0) / span) * w;
            const y = h - 1 - (p.v / scale) * (h - 2);
            return `${x.toFixed(1)},${y.toFixed(1)}`;
        });
        return svg('polyline', {class: cls, points: xy.join(' '), data: {series: name}});
    }

    /*
     * Draws into the <svg> node the last window of samples: the solid line is
     * done per second, the dashed one pending, each scaled to its own peak
     * (named in the title, so the chart reads without colour or a mouse).
     */
    function drawChart(node, queue, hist, w, h) {
        node.replaceChildren();
        if (!hist || hist.samples.length < 2) {
            node.appendChild(svg('title', {}, `${queue}: not enough samples yet`));
            node.setAttribute('aria-label', `${queue}: not enough samples yet`);
            return;
        }
        const samples = hist.samples;
        const span = Math.max(hist.interval_ms * 120, samples[samples.length - 1].t - samples[0].t);
        const t1 = samples[samples.length - 1].t;
        const t0 = t1 - span;
        const s = series(samples);
        const pd = peak(s.done);
        const pp = peak(s.pending);
        const last = (pts) => (pts.length ? pts[pts.length - 1].v : 0);
        const minutes = Math.round(span / 60000);
        const label = `${queue}, last ${minutes} min: done per second now ${last(s.done).toFixed(1)}` +
            ` (peak ${pd.toFixed(1)}); pending now ${last(s.pending)} (peak ${pp})`;
        node.setAttribute('aria-label', label);
        node.appendChild(svg('title', {}, label));
        node.appendChild(svg('line', {class: 'axis', x1: 0, y1: h - 0.5, x2: w, y2: h - 0.5}));
        node.appendChild(polyline(s.pending, t0, span, w, h, pp, 'depth', 'pending'));
        node.appendChild(polyline(s.done, t0, span, w, h, pd, 'rate', 'done_per_s'));
    }

    function chartNode(queue, w, h) {
        return svg('svg', {
            class: 'chart', role: 'img', width: w, height: h, viewBox: `0 0 ${w} ${h}`,
            preserveAspectRatio: 'none', data: {chart: queue},
        });
    }

    /* The queue's history, fetched again once it is one sampling interval old. */
    async function history(queue) {
        const have = state.history.get(queue);
        const now = Date.now();
        if (have && now - have.at < (have.interval_ms || 5000))
            return have;
        const h = await api(apiPath(queue, '/history'));
        const entry = {at: now, interval_ms: h.interval_ms || 5000, samples: h.samples || []};
        state.history.set(queue, entry);
        return entry;
    }

    function legend() {
        return el('p', {class: 'legend'}, 'Charts: ', el('span', {class: 'key rate'}, 'solid line'),
            ' = done per second, ', el('span', {class: 'key depth'}, 'dashed line'),
            ' = pending; each scaled to its own peak.');
    }

    function badges(q) {
        const out = [];
        if (q.sealed)
            out.push(el('span', {class: 'badge sealed', data: {badge: 'sealed'}}, 'sealed'));
        if (q.drained)
            out.push(el('span', {class: 'badge drained', data: {badge: 'drained'}}, 'drained'));
        if (!out.length)
            out.push(el('span', {class: 'badge open', data: {badge: 'open'}}, 'open'));
        return out;
    }

    /* ---- #/ : the queue list ---- */

    function queuesPage(main) {
        const tbody = el('tbody');
        const head = el('tr', {}, el('th', {scope: 'col'}, 'Queue'),
            COUNTS.map(([, label]) => el('th', {scope: 'col', class: 'n'}, label)),
            el('th', {scope: 'col', class: 'n'}, 'Done/s'),
            el('th', {scope: 'col', class: 'n'}, 'Enqueued/s'),
            el('th', {scope: 'col', class: 'n'}, 'Oldest pending'),
            el('th', {scope: 'col'}, 'State'), el('th', {scope: 'col'}, 'Last 10 minutes'));
        const empty = el('p', {id: 'no-queues', hidden: true},
            'No queues yet: a queue appears here once something is enqueued on it ',
            'or it is named with --queue.');
        main.append(el('h2', {}, 'Queues'),
            el('table', {id: 'queues'}, el('thead', {}, head), tbody), empty, legend());
        return {
            refresh: async (ov, gen) => {
                updateQueueRows(tbody, ov.queues);
                empty.hidden = ov.queues.length > 0;
                await Promise.allSettled(ov.queues.map(async (q) => {
                    const h = await history(q.name);
                    const row = findBy(tbody.rows, 'queue', q.name);
                    if (gen === state.gen && row)
                        drawChart(row.querySelector('svg'), q.name, h, 160, 36);
                }));
            },
        };
    }

    function queueRow(name) {
        return el('tr', {data: {queue: name}},
            el('th', {scope: 'row'}, el('a', {href: queueHref(name)}, name)),
            COUNTS.map(([f]) => el('td', {class: 'n', data: {field: f}})),
            el('td', {class: 'n', data: {field: 'done_per_s'}}),
            el('td', {class: 'n', data: {field: 'enqueued_per_s'}}),
            el('td', {class: 'n', data: {field: 'oldest_pending_ms'}}),
            el('td', {data: {field: 'state'}}),
            el('td', {data: {field: 'chart'}}, chartNode(name, 160, 36)));
    }

    /* Rows are kept and updated in place, so a row a user or test holds stays. */
    function updateQueueRows(tbody, queues) {
        const names = new Set(queues.map((q) => q.name));
        for (const row of Array.from(tbody.rows))
            if (!names.has(row.dataset.queue))
                row.remove();
        for (const q of queues) {
            const row = findBy(tbody.rows, 'queue', q.name) || queueRow(q.name);
            fillCounts(row, q);
            tbody.appendChild(row);
        }
    }

    /* Every [data-field] under root that names a queue counter gets its value. */
    function fillCounts(root, q) {
        for (const [f] of COUNTS) {
            const c = root.querySelector(`[data-field="${f}"]`);
            setText(c, fmtCount(q[f]));
            c.classList.toggle('has-dead', f === 'dead' && q.dead > 0);
        }
        setText(root.querySelector('[data-field="done_per_s"]'), fmtRate(q.done_per_s));
        setText(root.querySelector('[data-field="enqueued_per_s"]'), fmtRate(q.enqueued_per_s));
        setText(root.querySelector('[data-field="oldest_pending_ms"]'),
            q.pending > 0 ? fmtDuration(q.oldest_pending_ms) : '–');
        const st = root.querySelector('[data-field="state"]');
        const key = `${q.sealed}/${q.drained}`;
        if (st.dataset.key !== key) {
            st.dataset.key = key;
            fill(st, ...badges(q));
        }
    }

    /* ---- #/queues/<q> : one queue ---- */

    function queuePage(main, r) {
        const q = r.queue;
        const v = {queue: q, deadOffset: 0, deadSeen: null, deadAt: 0, deadJSON: null, jobsAt: 0};
        const counts = el('dl', {id: 'queue-counts', class: 'counts', data: {queue: q}},
            [...COUNTS, ['done_per_s', 'Done/s'], ['enqueued_per_s', 'Enqueued/s'],
                ['oldest_pending_ms', 'Oldest pending'], ['state', 'State']].map(([f, label]) =>
                el('div', {}, el('dt', {}, label), el('dd', {data: {field: f}}))));
        v.chart = chartNode(q, 640, 120);
        v.unknown = el('p', {id: 'unknown-queue', hidden: true},
            `The broker does not know a queue named "${q}".`);
        v.dead = el('section', {id: 'dead', 'aria-labelledby': 'dead-title'});
        v.jobs = el('section', {id: 'jobs', hidden: true, 'aria-labelledby': 'jobs-title'});
        main.append(el('p', {class: 'crumbs'}, el('a', {href: '#/'}, 'Queues'), ' / '),
            el('h2', {id: 'queue-title'}, q), v.unknown, counts,
            el('figure', {}, v.chart, el('figcaption', {}, legend())), v.dead, v.jobs);
        v.counts = counts;
        v.refresh = (ov, gen) => refreshQueue(v, ov, gen);
        return v;
    }

    async function refreshQueue(v, ov, gen) {
        const q = ov.queues.find((x) => x.name === v.queue);
        v.unknown.hidden = !!q;
        v.counts.hidden = !q;
        if (!q)
            return;
        fillCounts(v.counts, q);
        const work = [history(v.queue).then((h) => {
            if (gen === state.gen)
                drawChart(v.chart, v.queue, h, 640, 120);
        })];
        /*
         * The dead letters are read again when their count moved, and every
         * DEAD_EVERY_MS (one died as another was requeued), not every tick.
         */
        const key = `${q.dead}/${ov.broker.write}`;
        if (v.deadSeen !== key || Date.now() - v.deadAt >= DEAD_EVERY_MS) {
            v.deadAt = Date.now();
            work.push(loadDead(v, gen).then(() => {
                v.deadSeen = key;
            }));
        }
        if (ov.broker.kube && Date.now() - v.jobsAt >= JOBS_EVERY_MS) {
            v.jobsAt = Date.now();
            work.push(loadJobs(v, gen));
        }
        v.jobs.hidden = !ov.broker.kube;
        await Promise.all(work);
    }

    async function loadDead(v, gen) {
        let d;
        try {
            d = await api(apiPath(v.queue, `/dead?offset=${v.deadOffset}&count=${DEAD_PAGE}`));
        } catch (e) {
            if (gen === state.gen)
                fill(v.dead, el('h3', {id: 'dead-title'}, 'Dead letters'),
                    el('p', {class: 'bad'}, `Cannot read the dead letters: ${e.message}`));
            return;
        }
        if (gen !== state.gen)
            return;
        /* Past the end after a purge: back to the last page that has letters. */
        if (d.dead.length === 0 && v.deadOffset > 0 && d.total > 0) {
            v.deadOffset = Math.max(0, Math.floor((d.total - 1) / DEAD_PAGE) * DEAD_PAGE);
            return loadDead(v, gen);
        }
        /* Unchanged letters keep their rows (and the button under the pointer). */
        const json = JSON.stringify([d, state.overview.broker.write]);
        if (json !== v.deadJSON) {
            v.deadJSON = json;
            renderDead(v, d);
        }
    }

    function renderDead(v, d) {
        const write = state.overview.broker.write;
        const title = el('h3', {id: 'dead-title'}, `Dead letters (${d.total})`);
        if (d.total === 0) {
            fill(v.dead, title, el('p', {id: 'no-dead'}, 'No dead letters.'));
            return;
        }
        const head = el('tr', {}, ['ID', 'Attempts', 'Last exit code', 'Reason', 'Died']
            .map((h) => el('th', {scope: 'col'}, h)), write ? el('th', {scope: 'col'}, 'Actions') : null);
        const rows = d.dead.map((x) => deadRow(v, x, write));
        const from = d.offset + 1;
        const to = d.offset + d.dead.length;
        fill(v.dead, title,
            write ? el('p', {class: 'actions'},
                actionButton(v, 'requeue-all', `Requeue all ${d.total}`, {all: true}),
                actionButton(v, 'purge-all', `Purge all ${d.total}`, {all: true}))
                : el('p', {id: 'read-only-note', class: 'note'},
                    'Read-only: start kwq-broker with --dashboard-write to requeue or purge.'),
            el('table', {id: 'dead-letters'}, el('thead', {}, head), el('tbody', {}, rows)),
            pager(v, from, to, d.total));
    }

    /* The worker writes "<what>; stderr: <tail>": the tail is shown as it was written. */
    function splitError(text) {
        const s = typeof text === 'string' ? text : '';
        const i = s.indexOf('; stderr: ');
        return i < 0 ? {reason: s, stderr: null} : {reason: s.slice(0, i), stderr: s.slice(i + 10)};
    }

    function deadRow(v, x, write) {
        const err = splitError(x.last_error);
        return el('tr', {data: {deadId: x.id}},
            el('th', {scope: 'row'}, el('a', {href: taskHref(v.queue, x.id)}, x.id)),
            el('td', {class: 'n', data: {field: 'attempts'}}, fmtCount(x.attempts)),
            el('td', {class: 'n', data: {field: 'last_code'}},
                x.last_code === -1 || x.last_code === null || x.last_code === undefined ? 'none'
                    : String(x.last_code)),
            el('td', {data: {field: 'last_error'}},
                el('p', {class: 'reason', data: {field: 'reason'}}, err.reason || '(no reason recorded)'),
                err.stderr !== null ? el('details', {open: true},
                    el('summary', {}, 'stderr tail'), el('pre', {data: {field: 'stderr'}}, err.stderr))
                    : null),
            el('td', {data: {field: 'died'}}, timeEl(x.died_ms)),
            write ? el('td', {class: 'actions'},
                actionButton(v, 'requeue', 'Requeue', {ids: [x.id]}, x.id),
                actionButton(v, 'purge', 'Purge', {ids: [x.id]}, x.id)) : null);
    }

    function pager(v, from, to, total) {
        if (total <= DEAD_PAGE)
            return null;
        const go = (offset) => {
            v.deadOffset = offset;
            loadDead(v, state.gen);
        };
        return el('p', {class: 'pager'},
            el('button', {type: 'button', data: {action: 'dead-prev'}, disabled: v.deadOffset === 0,
                on: {click: () => go(Math.max(0, v.deadOffset - DEAD_PAGE))}}, 'Older'),
            ` ${from}–${to} of ${total} (oldest first) `,
            el('button', {type: 'button', data: {action: 'dead-next'}, disabled: to >= total,
                on: {click: () => go(v.deadOffset + DEAD_PAGE)}}, 'Newer'));
    }

    /*
     * A requeue or purge button. Purging asks first: it deletes the tasks for
     * good. While a write is in flight every action button is disabled, so a
     * double click sends one request.
     */
    function actionButton(v, action, label, body, id) {
        const purge = action.startsWith('purge');
        const what = id !== undefined ? `dead letter ${id}` : 'every dead letter';
        return el('button', {
            type: 'button', class: purge ? 'danger' : null, data: {action, deadId: id},
            'aria-label': id !== undefined ? `${label} ${id}` : null,
            on: {click: () => act(v, purge ? 'purge' : 'requeue', body, what)},
        }, label);
    }

    async function act(v, verb, body, what) {
        if (verb === 'purge' &&
            !window.confirm(`Purge ${what} of queue "${v.queue}"? The tasks are deleted for good.`))
            return;
        const buttons = document.querySelectorAll('button[data-action]');
        buttons.forEach((b) => { b.disabled = true; });
        try {
            const r = await post(apiPath(v.queue, `/dead/${verb}`), body);
            const n = verb === 'purge' ? r.purged : r.requeued;
            showStatus(`${verb === 'purge' ? 'Purged' : 'Requeued'} ${n} dead ` +
                `letter${n === 1 ? '' : 's'} of ${v.queue}.`);
        } catch (e) {
            showStatus(`${verb === 'purge' ? 'Purge' : 'Requeue'} failed: ${e.message}`);
        }
        buttons.forEach((b) => { b.disabled = false; });
        v.deadSeen = null;
        schedule(0);
    }

    async function loadJobs(v, gen) {
        let j;
        try {
            j = await api(apiPath(v.queue, '/jobs'));
        } catch (e) {
            j = {error: e.message};
        }
        if (gen !== state.gen)
            return;
        const title = el('h3', {id: 'jobs-title'}, 'Kubernetes Jobs');
        if (j.error) {
            fill(v.jobs, title, el('p', {class: 'bad'}, `Cannot read the Jobs: ${j.error}`));
        } else if (!j.enabled) {
            fill(v.jobs, title, el('p', {}, 'The broker runs without --kube.'));
        } else if (!j.jobs.length) {
            fill(v.jobs, title, el('p', {id: 'no-jobs'}, `No Job works on ${v.queue}.`));
        } else {
            const cols = ['active', 'ready', 'succeeded', 'failed', 'parallelism'];
            fill(v.jobs, title, el('table', {id: 'jobs-table'},
                el('thead', {}, el('tr', {}, el('th', {scope: 'col'}, 'Job'),
                    cols.map((c) => el('th', {scope: 'col', class: 'n'}, c[0].toUpperCase() + c.slice(1))),
                    el('th', {scope: 'col'}, 'State'))),
                el('tbody', {}, j.jobs.map((job) => el('tr', {data: {job: job.name}},
                    el('th', {scope: 'row'}, job.name),
                    cols.map((c) => el('td', {class: 'n', data: {field: c}}, fmtCount(job[c]))),
                    el('td', {data: {field: 'state'}}, job.failed_condition ? 'failed'
                        : job.complete ? 'complete' : 'running'))))));
        }
    }

    /* ---- #/queues/<q>/tasks/<id> : one task ---- */

    function taskPage(main, r) {
        const v = {queue: r.queue, id: r.id, seen: null, box: el('div', {id: 'task'})};
        main.append(el('p', {class: 'crumbs'}, el('a', {href: '#/'}, 'Queues'), ' / ',
            el('a', {href: queueHref(r.queue)}, r.queue), ' / '),
        el('h2', {id: 'task-title'}, `Task ${r.id}`), v.box);
        v.refresh = (ov, gen) => refreshTask(v, gen);
        return v;
    }

    async function refreshTask(v, gen) {
        let t;
        try {
            t = await api(apiPath(v.queue, '/tasks/' + encodeURIComponent(v.id)));
        } catch (e) {
            t = {error: e.status === 404
                ? `No task ${v.id} in queue ${v.queue}: it never existed, or it is done and no result is kept.`
                : `Cannot read the task: ${e.message}`};
        }
        const key = JSON.stringify(t);
        if (gen !== state.gen || key === v.seen)
            return;
        v.seen = key;
        if (t.error) {
            fill(v.box, el('p', {id: 'task-missing', class: 'bad'}, t.error));
            return;
        }
        fill(v.box, taskFacts(t), taskActions(v, t), el('h3', {}, 'History'),
            taskHistory(t.history || []), el('h3', {}, 'Payload'), payload(t.payload, t.payload_bytes),
            t.result !== null && t.result !== undefined
                ? [el('h3', {}, 'Result'), el('pre', {data: {field: 'result'}}, String(t.result))] : null);
    }

    function taskFacts(t) {
        const facts = [
            ['state', 'State', t.state],
            ['attempts', 'Attempts', `${fmtCount(t.attempts)} of ${fmtCount(t.max_attempts)}`],
            ['enqueued_ms', 'Enqueued', timeEl(t.enqueued_ms)],
            ['due_ms', t.state === 'leased' ? 'Lease ends' : 'Due', timeEl(t.due_ms)],
            ['payload_bytes', 'Payload size', `${fmtCount(t.payload_bytes)} bytes`],
        ];
        return el('dl', {id: 'task-facts', class: 'counts'}, facts.map(([f, label, value]) =>
            el('div', {}, el('dt', {}, label), el('dd', {data: {field: f}}, value))));
    }

    /* A dead task can be requeued or purged from its own page too. */
    function taskActions(v, t) {
        if (t.state !== 'dead' || !state.overview.broker.write)
            return null;
        return el('p', {class: 'actions'},
            actionButton(v, 'requeue', 'Requeue', {ids: [t.id]}, t.id),
            actionButton(v, 'purge', 'Purge', {ids: [t.id]}, t.id));
    }

    function taskHistory(h) {
        if (!h.length)
            return el('p', {id: 'no-history'}, 'No attempt has ended yet.');
        const rows = h.map((x, i) => el('tr', {data: {attempt: String(x.n), index: String(i)}},
            el('td', {class: 'n', data: {field: 'n'}}, fmtCount(x.n)),
            el('td', {data: {field: 'o'}}, String(x.o || '')),
            el('td', {data: {field: 'at'}}, timeEl(x.at)),
            el('td', {class: 'n', data: {field: 'c'}}, x.c === undefined ? '' : x.c === -1 ? 'none' : String(x.c)),
            el('td', {data: {field: 'e'}}, x.e ? el('pre', {}, String(x.e)) : ''),
            el('td', {data: {field: 'due'}}, x.due ? timeEl(x.due) : ''),
            el('td', {data: {field: 'notes'}}, [x.dead ? 'dead-lettered' : '',
                x.u ? 'uncharged (never started)' : ''].filter(Boolean).join('; '))));
        return el('table', {id: 'task-history'}, el('thead', {}, el('tr', {},
            ['Attempt', 'Outcome', 'At', 'Exit code', 'Error', 'Retry due', 'Notes']
                .map((c) => el('th', {scope: 'col'}, c)))), el('tbody', {}, rows));
    }

    function payload(p, bytes) {
        if (typeof p === 'string')
            return el('pre', {data: {field: 'payload'}}, p);
        return el('p', {data: {field: 'payload'}}, bytes > 4096
            ? 'Not shown: over 4 KiB.' : 'Not shown: not valid UTF-8.');
    }

    function missingPage(main) {
        main.append(el('h2', {}, 'Not found'),
            el('p', {}, 'No such page. ', el('a', {href: '#/'}, 'Back to the queues.')));
        return {};
    }

    window.addEventListener('hashchange', route);
    route();
})();
