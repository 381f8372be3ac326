/// The dashboard's single page: plain HTML, CSS and JavaScript with nothing fetched from
/// elsewhere, so it works on a cluster without internet access. It polls the JSON endpoints
/// every two seconds and draws timelines and placement pictures as SVG.
enum DashboardPage {
    static let html = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Weft cluster</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
          h1 { font-size: 1.4em; margin: 0 0 .2em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
          table { border-collapse: collapse; background: #fff; }
          th, td { border: 1px solid #ddd; padding: .25em .6em; text-align: left; white-space: nowrap; }
          th { background: #eee; font-weight: 600; }
          tr.clickable { cursor: pointer; } tr.selected { background: #e3efff; }
          .healthy { color: #17803d; font-weight: 600; } .dead { color: #b91c1c; font-weight: 600; }
          .bar { display: inline-block; width: 90px; height: 8px; background: #e5e5e5; margin-right: .5em; }
          .bar > span { display: block; height: 8px; background: #3b82f6; }
          .muted { color: #777; } .error { color: #b91c1c; }
          svg { background: #fff; border: 1px solid #ddd; }
          svg text { font: 11px system-ui, sans-serif; }
          .legend span { display: inline-block; margin-right: 1em; }
          .swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle; margin-right: .3em; }
        </style>
        </head>
        <body>
        <h1>Weft cluster</h1>
        <div class="muted" id="updated">loading…</div>

        <h2>Workers</h2>
        <table id="workers"><thead><tr><th>worker</th><th>address</th><th>health</th><th>sessions</th>
        <th>tensor memory</th><th>variables</th><th>last heartbeat</th></tr></thead><tbody></tbody></table>

        <h2>Sessions</h2>
        <table id="sessions"><thead><tr><th>session</th><th>client</th><th>strategy</th><th>nodes</th>
        <th>steps</th><th>workers</th></tr></thead><tbody></tbody></table>

        <h2>Links</h2>
        <div id="links"></div>

        <h2>Recent steps</h2>
        <table id="steps"><thead><tr><th>#</th><th>session</th><th>step</th><th>route</th><th>duration</th>
        <th>outcome</th><th>timeline</th></tr></thead><tbody></tbody></table>

        <h2>Timeline <span class="muted" id="timeline-title"></span></h2>
        <div id="timeline" class="muted">no timed step yet: steps are sampled once a second</div>

        <h2>Placement <span class="muted" id="placement-title"></span></h2>
        <div id="placement-legend" class="legend"></div>
        <div id="placement" class="muted">no session open</div>

        <script>
        "use strict";
        const palette = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16",
                         "#f97316", "#6366f1"];
        let selectedStep = null, selectedSession = null, shownStep = null, shownSession = null;
        let deviceColors = {};

        function colorOf(device) {
          if (!(device in deviceColors)) deviceColors[device] = palette[Object.keys(deviceColors).length % palette.length];
          return deviceColors[device];
        }
        function text(value) { return document.createTextNode(String(value)); }
        function cell(row, value, cls) {
          const td = document.createElement("td");
          if (value instanceof Node) td.appendChild(value); else td.appendChild(text(value));
          if (cls) td.className = cls;
          row.appendChild(td);
          return td;
        }
        function bytes(n) {
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let i = 0; while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
          return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
        }
        function seconds(s) { return s < 0.001 ? (s * 1e6).toFixed(0) + " µs" : s < 1 ? (s * 1e3).toFixed(2) + " ms" : s.toFixed(2) + " s"; }
        function replaceBody(table, rows) {
          const body = document.querySelector("#" + table + " tbody");
          body.replaceChildren(...rows);
        }
        function svgElement(name, attributes, content) {
          const element = document.createElementNS("http://www.w3.org/2000/svg", name);
          for (const key in attributes) element.setAttribute(key, attributes[key]);
          if (content !== undefined) element.appendChild(text(content));
          return element;
        }

        // A secured cluster's page is opened as /?token=TOKEN: the token goes with every request
        // as a bearer header, and in the query of links, and is stored nowhere.
        const token = new URLSearchParams(location.search).get("token");
        function withToken(path) { return token ? path + "?token=" + encodeURIComponent(token) : path; }
        async function getJSON(path) {
          const headers = token ? { "Authorization": "Bearer " + token } : {};
          const response = await fetch(path, { cache: "no-store", headers });
          if (!response.ok) throw new Error(path + ": " + response.status + " " + await response.text());
          return response.json();
        }

        function showCluster(cluster) {
          replaceBody("workers", cluster.workers.map(w => {
            const row = document.createElement("tr");
            cell(row, w.device, "device");
            cell(row, w.address);
            cell(row, w.healthy ? "healthy" : "dead", w.healthy ? "healthy" : "dead");
            cell(row, w.sessions);
            const memory = document.createElement("span");
            if (w.memoryLimitBytes > 0) {
              const bar = document.createElement("span"); bar.className = "bar";
              const fill = document.createElement("span");
              fill.style.width = Math.min(100, 100 * w.tensorBytes / w.memoryLimitBytes).toFixed(1) + "%";
              bar.appendChild(fill); memory.appendChild(bar);
              memory.appendChild(text(bytes(w.tensorBytes) + " of " + bytes(w.memoryLimitBytes)));
            } else memory.appendChild(text(bytes(w.tensorBytes)));
            cell(row, memory, "memory");
            cell(row, bytes(w.variableBytes));
            cell(row, seconds(w.lastSeenSeconds) + " ago");
            colorOf(w.device);
            return row;
          }));
          replaceBody("sessions", cluster.sessions.map(s => {
            const row = document.createElement("tr");
            row.className = "clickable" + (s.handle === selectedSession ? " selected" : "");
            row.onclick = () => { selectedSession = s.handle; shownSession = null; refresh(); };
            cell(row, s.handle, "session"); cell(row, s.client); cell(row, s.strategy);
            cell(row, s.nodes); cell(row, s.steps); cell(row, s.workers.join(", "));
            return row;
          }));
          if (!cluster.sessions.some(s => s.handle === selectedSession))
            selectedSession = cluster.sessions.length ? cluster.sessions[cluster.sessions.length - 1].handle : null;
          showLinks(cluster);
        }

        function showLinks(cluster) {
          const box = document.getElementById("links");
          if (cluster.links.length === 0) { box.className = "muted"; box.textContent = "not measured yet (needs two workers)"; return; }
          const devices = [...new Set(cluster.links.flatMap(l => [l.source, l.destination]))].sort();
          const table = document.createElement("table"); table.id = "link-matrix";
          const head = document.createElement("tr"); cell(head, "from \\ to");
          devices.forEach(d => cell(head, d)); table.appendChild(head);
          for (const source of devices) {
            const row = document.createElement("tr"); cell(row, source);
            for (const destination of devices) {
              const link = cluster.links.find(l => l.source === source && l.destination === destination);
              cell(row, link ? seconds(link.latencySeconds) + ", " + bytes(link.bytesPerSecond) + "/s" : "–", "link");
            }
            table.appendChild(row);
          }
          box.className = ""; box.replaceChildren(table);
        }

        function showSteps(steps) {
          if (selectedStep === null || !steps.some(s => s.id === selectedStep)) {
            const timed = steps.find(s => s.hasTimeline);
            selectedStep = timed ? timed.id : null;
          }
          replaceBody("steps", steps.slice(0, 20).map(s => {
            const row = document.createElement("tr");
            row.className = (s.hasTimeline ? "clickable" : "") + (s.id === selectedStep ? " selected" : "");
            if (s.hasTimeline) row.onclick = () => { selectedStep = s.id; shownStep = null; refresh(); };
            cell(row, s.id); cell(row, s.session); cell(row, s.step); cell(row, s.route);
            cell(row, seconds(s.seconds));
            cell(row, s.error ? s.error : "ok", s.error ? "error" : "");
            if (s.hasTimeline) {
              const link = document.createElement("a");
              link.href = withToken("/api/steps/" + s.id + "/trace"); link.download = "step-" + s.id + ".json";
              link.textContent = s.nodes + " nodes on " + s.devices.length + " workers";
              link.onclick = event => event.stopPropagation();
              cell(row, link);
            } else cell(row, "–", "muted");
            return row;
          }));
        }

        function drawTimeline(trace) {
          const events = trace.traceEvents;
          const processes = {}, threads = {};
          for (const e of events) {
            if (e.ph === "M" && e.name === "process_name") processes[e.pid] = e.args.name;
            if (e.ph === "M" && e.name === "thread_name") threads[e.pid + "/" + e.tid] = e.args.name;
          }
          const slices = events.filter(e => e.ph === "X");
          const rows = [...new Set(slices.map(e => e.pid + "/" + e.tid))].sort((a, b) => {
            const [pa, ta] = a.split("/").map(Number), [pb, tb] = b.split("/").map(Number);
            return pa - pb || ta - tb;
          });
          const start = Math.min(...slices.map(e => e.ts)), end = Math.max(...slices.map(e => e.ts + e.dur));
          const label = 230, width = 1100, rowHeight = 22, span = Math.max(end - start, 1);
          const x = t => label + (t - start) / span * (width - label - 10);
          const svg = svgElement("svg", { width: width, height: rows.length * rowHeight + 30, id: "timeline-svg" });
          rows.forEach((row, index) => {
            const pid = row.split("/")[0];
            svg.appendChild(svgElement("text", { x: 4, y: index * rowHeight + 15 },
              (processes[pid] || pid).split(" ")[0] + " · " + (threads[row] || row).replace("executor ", "")));
          });
          for (const e of slices) {
            const index = rows.indexOf(e.pid + "/" + e.tid);
            const device = (processes[e.pid] || "").split(" ")[0];
            const rect = svgElement("rect", { x: x(e.ts), y: index * rowHeight + 3, height: rowHeight - 6,
              width: Math.max(1, x(e.ts + e.dur) - x(e.ts)), fill: colorOf(device), class: "slice" });
            rect.appendChild(svgElement("title", {}, e.args.name + " (" + e.name + ") " + seconds(e.dur / 1e6)
              + " → " + (e.args.outputs || []).join(", ")));
            svg.appendChild(rect);
          }
          const flows = {};
          for (const e of events) if (e.ph === "s" || e.ph === "f") (flows[e.id] = flows[e.id] || {})[e.ph] = e;
          for (const id in flows) {
            const { s, f } = flows[id];
            if (!s || !f) continue;
            const from = rows.indexOf(s.pid + "/" + s.tid), to = rows.indexOf(f.pid + "/" + f.tid);
            svg.appendChild(svgElement("line", { x1: x(s.ts), y1: from * rowHeight + rowHeight / 2, x2: x(f.ts),
              y2: to * rowHeight + rowHeight / 2, stroke: "#111", "stroke-width": 1.2, class: "flow" }));
          }
          svg.appendChild(svgElement("text", { x: label, y: rows.length * rowHeight + 20 }, "0"));
          svg.appendChild(svgElement("text", { x: width - 80, y: rows.length * rowHeight + 20 }, seconds(span / 1e6)));
          const figure = document.createElement("div");
          const clocks = document.createElement("div");
          clocks.className = "muted"; clocks.id = "timeline-clocks";
          clocks.textContent = "clocks against the coordinator's: " + Object.values(processes)
            .map(name => name.replace(" (clock ", " ").replace(")", "")).join("; ");
          figure.appendChild(svg); figure.appendChild(clocks);
          return figure;
        }

        function drawPlacement(picture) {
          const layer = {}, index = {};
          picture.boxes.forEach((b, i) => { layer[b.id] = 0; index[b.id] = i; });
          // Longest path from the inputs, over edges that go forward in the graph's order: a
          // loop's back edge (NextIteration) would otherwise push its boxes right forever.
          const forward = picture.edges.filter(e => index[e.from] < index[e.to]);
          for (let round = 0; round < picture.boxes.length; round++) {
            let changed = false;
            for (const e of forward) {
              if (layer[e.to] < layer[e.from] + 1) { layer[e.to] = layer[e.from] + 1; changed = true; }
            }
            if (!changed) break;
          }
          const columns = {};
          for (const b of picture.boxes) (columns[layer[b.id]] = columns[layer[b.id]] || []).push(b);
          const position = {}, boxWidth = 150, boxHeight = 30;
          let height = 0, width = 0;
          for (const column in columns) columns[column].forEach((b, row) => {
            position[b.id] = { x: 10 + column * (boxWidth + 40), y: 10 + row * (boxHeight + 14) };
            height = Math.max(height, position[b.id].y + boxHeight + 10);
            width = Math.max(width, position[b.id].x + boxWidth + 10);
          });
          const svg = svgElement("svg", { width: width, height: height, id: "placement-svg" });
          const defs = svgElement("defs", {});
          const marker = svgElement("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5,
            markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" });
          marker.appendChild(svgElement("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#999" }));
          defs.appendChild(marker); svg.appendChild(defs);
          for (const e of picture.edges) {
            const a = position[e.from], b = position[e.to];
            svg.appendChild(svgElement("line", { x1: a.x + boxWidth, y1: a.y + boxHeight / 2, x2: b.x, y2: b.y + boxHeight / 2,
              stroke: "#999", "marker-end": "url(#arrow)" }));
          }
          for (const b of picture.boxes) {
            const p = position[b.id];
            const group = svgElement("g", { class: "box", "data-device": b.device });
            group.appendChild(svgElement("rect", { x: p.x, y: p.y, width: boxWidth, height: boxHeight, rx: 4,
              fill: colorOf(b.device), "fill-opacity": 0.85 }));
            const name = b.id.length > 22 ? "…" + b.id.slice(-21) : b.id;
            group.appendChild(svgElement("text", { x: p.x + 5, y: p.y + 13, fill: "#fff" }, name));
            group.appendChild(svgElement("text", { x: p.x + 5, y: p.y + 26, fill: "#fff" },
              b.nodes > 1 ? b.nodes + " nodes" : b.op));
            group.appendChild(svgElement("title", {}, b.id + ": " + Object.entries(b.devices).map(([d, n]) => n + " on " + d).join(", ")));
            svg.appendChild(group);
          }
          const legend = document.getElementById("placement-legend");
          legend.replaceChildren(...picture.devices.map(d => {
            const item = document.createElement("span");
            const swatch = document.createElement("span"); swatch.className = "swatch"; swatch.style.background = colorOf(d);
            item.appendChild(swatch); item.appendChild(text(d)); return item;
          }));
          return svg;
        }

        async function refresh() {
          try {
            const [cluster, steps] = await Promise.all([getJSON("/api/cluster"), getJSON("/api/steps")]);
            showCluster(cluster);
            showSteps(steps);
            if (selectedStep !== null && selectedStep !== shownStep) {
              const trace = await getJSON("/api/steps/" + selectedStep + "/trace");
              const box = document.getElementById("timeline");
              box.className = ""; box.replaceChildren(drawTimeline(trace));
              document.getElementById("timeline-title").textContent = "step #" + selectedStep;
              shownStep = selectedStep;
            }
            if (selectedSession !== null && selectedSession !== shownSession) {
              const picture = await getJSON("/api/sessions/" + encodeURIComponent(selectedSession) + "/placement");
              const box = document.getElementById("placement");
              box.className = ""; box.replaceChildren(drawPlacement(picture));
              document.getElementById("placement-title").textContent = selectedSession
                + (picture.depth > 0 ? " (collapsed to " + picture.depth + " name-scope levels)" : "");
              shownSession = selectedSession;
            }
            document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
          } catch (error) {
            document.getElementById("updated").textContent = "cannot reach the coordinator: " + error.message;
          }
        }
        refresh();
        setInterval(refresh, 2000);
        </script>
        </body>
        </html>
        """#
}
