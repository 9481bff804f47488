#!/usr/bin/env bash
# stream.dashboard() in a real browser. A rate stream with event time
# counted per second window, an INSERT-fed stream counted per minute
# window (fed in rounds through its worker, the last one late), and a view
# named as an attack that has no batch yet. The page is taken in one
# REPEATABLE READ transaction between two readings of stream.queries, then
# rendered by headless Chromium: the screenshot is not blank and shows the
# charts' colours, the browser's DOM has no element a name made and no
# external reference, the summary's cells equal stream.queries (lag: between
# the two readings), and the charts' points equal stream.progress.
source "$(dirname "$0")/../lib.sh"
command -v chromium >/dev/null || { echo "chromium is not installed (Debian package chromium)"; exit 1; }
# Debian's python3-pil is for Debian's python3, which may not be first in PATH
py=python3
$py -c 'import PIL' 2>/dev/null || py=/usr/bin/python3
$py -c 'import PIL' || { echo "PIL is not installed (Debian package python3-pil)"; exit 1; }
out=$(mktemp -d /tmp/pg_stream_dash.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$out"' EXIT
pgs_start_cluster

q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ticks (ts timestamptz, value bigint) SERVER rate
	OPTIONS (rows_per_second '500', event_time 'ts', watermark '1 second');
CREATE MATERIALIZED VIEW ticks_per_second AS
	SELECT stream.tumble(ts, '1 second') AS second, count(*) AS n FROM ticks GROUP BY 1;
CREATE FOREIGN TABLE events (kind text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW events_per_minute AS
	SELECT kind, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM events GROUP BY 1, 2;
CREATE MATERIALIZED VIEW "<img src=x onerror=""document.title='pwned'"">" WITH (trigger = 'manual') AS
	SELECT kind FROM events;
SQL

echo "feed events in rounds, each read by the worker; the last round is late"
total=0
for round in 1 2 3 4 5; do
	if [ $round -lt 5 ]; then
		# minutes 10:00 + 3*round ...: the watermark moves, windows close
		q "INSERT INTO events SELECT 'k' || i % 3, '2026-01-01 10:00'::timestamptz
			+ ($round * 3) * interval '1 minute' + i * interval '1 second'
			FROM generate_series(1, 40 * $round) i" >/dev/null
		total=$((total + 40 * round))
	else
		q "INSERT INTO events SELECT 'k1', '2026-01-01 10:01' FROM generate_series(1, 9)" >/dev/null
		total=$((total + 9))
	fi
	pgs_wait_for "SELECT rows_in = $total AND lag = 0 FROM stream.queries
		WHERE name = 'events_per_minute'::regclass" 30
done
pgs_wait_for "SELECT rows_late = 9 FROM stream.queries WHERE name = 'events_per_minute'::regclass" 30
pgs_wait_for "SELECT batches >= 10 FROM stream.queries WHERE name = 'ticks_per_second'::regclass" 30

echo "the page, between two readings of stream.queries, in one snapshot"
pgs_psql <<SQL
\pset format unaligned
\pset tuples_only on
BEGIN ISOLATION LEVEL REPEATABLE READ;
SET LOCAL search_path = pg_catalog;
\o $out/before.json
SELECT json_agg(row_to_json(q)) FROM stream.queries q;
\o $out/dash.html
SELECT stream.dashboard();
\o $out/after.json
SELECT json_agg(row_to_json(q)) FROM stream.queries q;
\o $out/progress.json
SELECT json_agg(row_to_json(p)) FROM stream.progress p;
\o
COMMIT;
SQL
ls -l "$out/dash.html"

echo "rendered by Chromium"
chromium_run() {
	timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$out/profile" \
		--window-size=1280,2000 "$@" "file://$out/dash.html" 2>>"$out/chromium.log"
}
chromium_run --screenshot="$out/dash.png" >/dev/null
chromium_run --dump-dom >"$out/dom.html"
[ -s "$out/dash.png" ] && [ -s "$out/dom.html" ] || { cat "$out/chromium.log"; exit 1; }
# PGS_DASH_KEEP=DIR: keep the page and its screenshot there
[ -z "${PGS_DASH_KEEP:-}" ] || cp "$out/dash.html" "$out/dash.png" "$PGS_DASH_KEEP/"

$py - "$out" <<'PY'
import json, sys
from html.parser import HTMLParser
from PIL import Image

out = sys.argv[1]
def load(name):
    # numbers keep PostgreSQL's text, as the page writes them
    with open(f"{out}/{name}") as f:
        return json.loads(f.read(), parse_float=str, parse_int=str)
before = {r["name"]: r for r in load("before.json")}
after = {r["name"]: r for r in load("after.json")}
progress = load("progress.json")
raw = open(f"{out}/dash.html").read()
failures = []
def check(ok, what):
    if not ok:
        failures.append(what)

class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.cells, self.sections = set(), [], {}, []
        self.points, self.chart, self.text, self.title, self.in_title = {}, None, [], "", False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.refs += [(tag, k, v) for k, v in attrs if k in ("src", "href", "xlink:href", "action", "srcset")]
        if tag == "td" and "data-col" in a:
            self.cells[(a["data-view"], a["data-col"])] = a.get("data-value")
        if tag == "section":
            self.sections.append(a["data-view"])
        if tag == "svg":
            self.chart = (a["data-view"], a["data-chart"])
            self.points[self.chart] = {}
        if "data-batch" in a:
            self.points[self.chart][a["data-batch"]] = a["data-value"]
        self.in_title = tag == "title" and self.chart is None
    def handle_endtag(self, tag):
        if tag == "svg":
            self.chart = None
        self.in_title = False
    def handle_data(self, data):
        self.text.append(data)
        if self.in_title:
            self.title += data

page = Page()
page.feed(raw)
dom = Page()
dom.feed(open(f"{out}/dom.html").read())

# self-contained, and no element made of a name
for p, what in ((page, "page"), (dom, "browser DOM")):
    check(not p.refs, f"{what}: external references {p.refs}")
    bad = p.tags & {"script", "img", "link", "iframe", "object", "embed", "base", "image", "use", "foreignobject"}
    check(not bad, f"{what}: elements {bad}")
check("http" not in raw and "url(" not in raw and "@import" not in raw, "page: a URL")
check(dom.title == "pg_stream dashboard", f"browser title is {dom.title!r}")
hostile = "public.\"<img src=x onerror=\"\"document.title='pwned'\"\">\""
check(hostile in "".join(dom.text), "the hostile name is not text in the browser")

# the summary is stream.queries
cols = [c for c in before[next(iter(before))] if c not in ("state_rows_by_stream", "worker_pid", "shares")]
check(set(page.sections) == set(before), f"sections {page.sections} != views {list(before)}")
for view, row in before.items():
    for c in cols:
        got = page.cells.get((view, c), "missing")
        want = row[c]
        if c == "lag" and want is not None and got not in (None, "missing"):
            check(int(want) <= int(got) <= int(after[view][c]),
                  f"{view} lag {got} not within {want}..{after[view][c]}")
        else:
            check(got == want == after[view][c], f"{view} {c}: page {got!r}, stream.queries {want!r} / {after[view][c]!r}")
check(len(page.cells) == len(before) * len(cols), f"{len(page.cells)} cells")

# the charts are stream.progress
batches = {}
for r in progress:
    batches.setdefault(r["name"], []).append(r)
for view in before:
    rows = batches.get(view, [])
    for chart in ("rows_in", "state_rows", "rows_late", "duration_ms"):
        want = {r["batch_id"]: r[chart] for r in rows}
        got = page.points.get((view, chart))
        if chart != "duration_ms":
            got = {b: str(int(float(v))) for b, v in got.items()}
        check(got == want, f"{view} chart {chart}: {got} != {want}")
    for b, v in page.points[(view, "process_rate")].items():
        r = next(r for r in rows if r["batch_id"] == b)
        exp = float(r["rows_in"]) / float(r["duration_ms"]) * 1000
        check(abs(float(v) - exp) <= 1e-9 * exp, f"{view} process rate of batch {b}: {v} != {exp}")
    if not rows:
        check(raw.count("no batches yet") >= 7, "a view without batches says so")
ev = "public.events_per_minute"
late = sum(int(r["rows_late"]) for r in batches[ev])
check(late == 9 == int(before[ev]["rows_late"]), f"late rows per batch add up to {late}")
check(len(page.points[("public.ticks_per_second", "input_rate")]) >= 9, "ticks: input rate points")

# the screenshot shows the page: text, the line charts' blue, the late rows' red
img = Image.open(f"{out}/dash.png").convert("RGB")
px = list(img.getdata())
near = lambda c, rgb: sum(abs(a - b) for a, b in zip(c, rgb)) < 40
nonwhite = sum(1 for c in px if c != (255, 255, 255))
blue = sum(1 for c in px if near(c, (31, 119, 180)))
red = sum(1 for c in px if near(c, (214, 39, 40)))
colours = len(set(px))
print(f"screenshot {img.size}: {nonwhite} non-white pixels, {colours} colours, {blue} blue, {red} red")
check(nonwhite > 0.05 * len(px) and colours > 50, "the screenshot is blank")
check(blue > 1000, "no line charts in the screenshot")
check(red > 200, "no bars in the screenshot")

for f in failures:
    print("FAIL:", f)
print(f"{len(page.cells)} cells and {sum(len(p) for p in page.points.values())} chart points checked")
sys.exit(1 if failures else 0)
PY
echo "ok: the dashboard"
