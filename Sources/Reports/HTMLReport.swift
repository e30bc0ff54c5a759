// The HTML report: one self-contained file (no network, no external assets). Summary figures and charts (inline
// SVG, drawn here: status, the waves on a timeline, the slowest clusters) are in the page; the cluster table is drawn
// in the browser from the data embedded as JSON, a page at a time, so 10,000 clusters stay quick. Every string from
// the inventory or a server is escaped: in HTML by `html()`, in the embedded JSON by escaping `<`, `>` and `&`, and in
// the browser by setting text, never markup.
import Foundation
import Ledger

extension RunReport {
    public func html() throws -> String {
        let title = runs.count == 1 ? "fleetstrap \(runs[0].command) \(runs[0].id)" : "fleetstrap: \(runs.count) runs"
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
            script-src 'unsafe-inline'; img-src data:">
            <title>\(Self.html(title))</title>
            <style>\(Self.css)</style></head>
            <body><header><h1>\(Self.html(title))</h1>
            <p class="meta">\(Self.html(runs.map(Self.runLine).joined(separator: " · ")))</p>
            <button id="theme" type="button" title="light or dark">◐</button></header>
            <main>
            <section class="figures">\(figures())</section>
            <section class="charts">
            <figure><figcaption>Status</figcaption>\(statusChart())</figure>
            <figure><figcaption>Waves</figcaption>\(waveTimeline())</figure>
            <figure><figcaption>Slowest clusters</figcaption>\(slowestChart())</figure>
            </section>

            """
        if !findings.isEmpty { page += findingsSection() }
        if !keys.isEmpty { page += keyAgesSection() }
        if !rotations.isEmpty { page += rotationsSection() }
        page += """
            <section><h2>Clusters</h2>
            <div class="filters">
            <input id="q" type="search" placeholder="search name, error, revision…" aria-label="search">
            <select id="f-status" aria-label="status"><option value="">every status</option></select>
            <select id="f-account" aria-label="account"><option value="">every account</option></select>
            <select id="f-region" aria-label="region"><option value="">every region</option></select>
            <select id="f-repository" aria-label="repository"><option value="">every repository</option></select>
            <input id="f-label" type="search" placeholder="label, e.g. env=prod" aria-label="label">
            <span id="count"></span></div>
            <table id="clusters"><thead><tr>
            <th data-key="name">cluster</th><th data-key="status">status</th><th data-key="account">account</th><th \
            data-key="region">region</th>
            <th data-key="repository">repository</th><th data-key="wave">wave</th><th data-key="seconds">time</th><th \
            data-key="step">step / error</th>
            </tr></thead><tbody></tbody></table>
            <button id="more" type="button">show more</button>
            </section>
            </main>
            <script type="application/json" id="data">\(try Self.embedded(self))</script>
            <script>\(Self.script)</script>
            </body></html>

            """
        return page
    }

    // MARK: Figures and charts (drawn here, escaped here)

    private func figures() -> String {
        let seconds = runs.compactMap(\.seconds).max()
        let items: [(String, String, String)] =
            [
                ("clusters", "\(summary.clusters)", ""), ("succeeded", "\(summary.succeeded)", "ok"),
                ("failed", "\(summary.failed)", summary.failed > 0 ? "bad" : ""),
                ("not started", "\(summary.notStarted + summary.pending)", ""),
            ] + (summary.interrupted == 0 ? [] : [("interrupted", "\(summary.interrupted)", "")]) + [
                ("waves", "\(summary.waves)", ""),
                ("time", seconds.map { Self.duration($0) } ?? "–", ""),
            ]
            + (findings.isEmpty
                ? []
                : [
                    (
                        "findings", "\(findings.count)",
                        findings.contains { $0.severity >= .error } ? "bad" : ""
                    )
                ])
        return items.map {
            "<div class=\"figure \($0.2)\"><b>\(Self.html($0.1))</b><span>\(Self.html($0.0))</span></div>"
        }.joined()
    }

    private func statusChart() -> String {
        let parts: [(String, Int, String)] = [
            ("succeeded", summary.succeeded, "var(--ok)"), ("failed", summary.failed, "var(--bad)"),
            ("not started", summary.notStarted, "var(--muted)"), ("interrupted", summary.interrupted, "var(--warn)"),
            ("pending", summary.pending, "var(--warn)"),
        ].filter { $0.1 > 0 }
        let total = max(1, parts.map(\.1).reduce(0, +))
        var x = 0.0
        var svg = "<svg viewBox=\"0 0 300 60\" role=\"img\" aria-label=\"status\">"
        for (name, count, color) in parts {
            let width = 300 * Double(count) / Double(total)
            svg +=
                """
                <rect x=\"\(Self.n(x))\" y=\"0\" width=\"\(Self.n(width))\" height=\"24\" \
                fill=\"\(color)\"><title>\(Self.html("\(name): \(count)"))</title></rect>
                """
            x += width
        }
        x = 0
        for (name, count, color) in parts {
            svg +=
                """
                <rect x=\"\(Self.n(x))\" y=\"38\" width=\"10\" height=\"10\" fill=\"\(color)\"/><text \
                x=\"\(Self.n(x + 14))\" y=\"47\">\(Self.html("\(name) \(count)"))</text>
                """
            x += 100
        }
        return svg + "</svg>"
    }

    private func waveTimeline() -> String {
        let timed = clusters.compactMap { cluster -> (Int, Date, Date)? in
            guard let start = cluster.startedAt, let end = cluster.endedAt else { return nil }
            return (cluster.wave, start, end)
        }
        guard let first = timed.map(\.1).min(), let last = timed.map(\.2).max(), last > first else {
            return "<p class=\"muted\">no timings</p>"
        }
        let span = last.timeIntervalSince(first)
        let waves = Dictionary(grouping: timed, by: \.0).sorted { $0.key < $1.key }
        let height = 22 * waves.count + 20
        var svg = "<svg viewBox=\"0 0 300 \(height)\" role=\"img\" aria-label=\"waves\">"
        for (row, (wave, items)) in waves.enumerated() {
            let start = items.map(\.1).min()!.timeIntervalSince(first)
            let end = items.map(\.2).max()!.timeIntervalSince(first)
            let x = 60 + 230 * start / span
            let width = max(2, 230 * (end - start) / span)
            svg += "<text x=\"0\" y=\"\(row * 22 + 15)\">wave \(wave + 1)</text>"
            svg +=
                """
                <rect x=\"\(Self.n(x))\" y=\"\(row * 22 + 3)\" width=\"\(Self.n(width))\" height=\"16\" \
                fill=\"var(--accent)\">
                """
            svg +=
                """
                <title>\(Self.html("wave \(wave + 1): \(items.count) clusters, \(Self.duration(end - start))"))</titl\
                e></rect>
                """
        }
        svg +=
            """
            <text x=\"60\" y=\"\(height - 4)\">0</text><text x=\"290\" y=\"\(height - 4)\" \
            text-anchor=\"end\">\(Self.html(Self.duration(span)))</text>
            """
        return svg + "</svg>"
    }

    private func slowestChart() -> String {
        let slowest = clusters.filter { $0.seconds != nil }.sorted { $0.seconds! > $1.seconds! }.prefix(8)
        guard let longest = slowest.first?.seconds, longest > 0 else { return "<p class=\"muted\">no timings</p>" }
        var svg = "<svg viewBox=\"0 0 300 \(slowest.count * 20)\" role=\"img\" aria-label=\"slowest clusters\">"
        for (row, cluster) in slowest.enumerated() {
            let width = max(2, 150 * cluster.seconds! / longest)
            svg += "<text x=\"0\" y=\"\(row * 20 + 14)\">\(Self.html(String(cluster.name.prefix(22))))</text>"
            svg +=
                """
                <rect x=\"120\" y=\"\(row * 20 + 3)\" width=\"\(Self.n(width))\" height=\"14\" \
                fill=\"\(cluster.status == "failed" ? "var(--bad)" : "var(--accent)")\">
                """
            svg += "<title>\(Self.html("\(cluster.name): \(Self.duration(cluster.seconds!))"))</title></rect>"
            svg +=
                """
                <text x=\"\(Self.n(124 + width))\" \
                y=\"\(row * 20 + 14)\">\(Self.html(Self.duration(cluster.seconds!)))</text>
                """
        }
        return svg + "</svg>"
    }

    private func findingsSection() -> String {
        let counts = FindingRecord.Severity.allCases.reversed().compactMap { severity in
            summary.findings[severity.rawValue].map { "\($0) \(severity.rawValue)" }
        }
        var out =
            """
            <section><h2>Findings <span \
            class=\"muted\">\(Self.html(counts.joined(separator: ", ")))</span></h2><table class=\"static\">
            """
        out += "<thead><tr><th>severity</th><th>code</th><th>subject</th><th>message</th></tr></thead><tbody>"
        for finding in findings {
            out +=
                """
                <tr class=\"sev-\(finding.severity.rawValue)\"><td>\(finding.severity.rawValue)</td><td><code>\
                \(Self.html(finding.code))</code></td>
                """
            out += "<td>\(Self.html(finding.subject))</td><td>\(Self.html(finding.message))</td></tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    /// Each identity's keys with their age (bars to scale across the fleet) and status.
    private func keyAgesSection() -> String {
        let oldest = max(1, keys.compactMap(\.ageDays).max() ?? 1)
        var out =
            """
            <section><h2>Key ages</h2><table class=\"static\"><thead><tr><th>identity</th><th>IAM \
            user</th><th>key</th><th>status</th><th>age</th><th></th></tr></thead><tbody>
            """
        for key in keys {
            let age = key.ageDays ?? 0
            let bar =
                """
                <svg viewBox=\"0 0 200 12\" class=\"bar\"><rect x=\"0\" y=\"1\" \
                width=\"\(Self.n(max(1, 200 * age / oldest)))\" height=\"10\" \
                fill=\"\(key.status == "Active" ? "var(--accent)" : "var(--muted)")\"/></svg>
                """
            out +=
                """
                <tr><td>\(Self.html(key.identity))</td><td>\(Self.html(key.iamUser))</td><td><code>\
                \(Self.html(key.keyId))</code></td><td>\(Self.html(key.status))</td>
                """
            out += "<td>\(Self.html(key.ageDays.map { Self.age(days: $0) } ?? "?"))</td><td>\(bar)</td></tr>"
        }
        return out + "</tbody></table></section>\n"
    }

    static func age(days: Double) -> String {
        days >= 1 ? String(format: "%.0f days", days.rounded(.down)) : Self.duration(days * 86_400)
    }

    private func rotationsSection() -> String {
        var out =
            """
            <section><h2>Rotations</h2><table class=\"static\"><thead><tr><th>holder</th><th>IAM \
            user</th><th>state</th><th>new</th><th>old</th></tr></thead><tbody>
            """
        for rotation in rotations {
            out +=
                """
                <tr><td>\(Self.html(rotation.holder))</td><td>\(Self.html(rotation.iamUser))</td><td>\
                \(Self.html(rotation.state))</td>
                """
            out +=
                """
                <td><code>\(Self.html(rotation.newKey))</code></td><td><code>\
                \(Self.html(rotation.oldKeys.joined(separator: ", ")))</code></td></tr>
                """
        }
        return out + "</tbody></table></section>\n"
    }

    // MARK: Escaping and the embedded data

    /// Text for HTML content and attribute values.
    /// `bootstrap of fleet.yaml, succeeded, started 2026-…`
    static func runLine(_ run: RunReport.Run) -> String {
        "\(run.command) of \(run.inventory), \(run.outcome), started \(iso(run.startedAt))"
    }

    static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// The table's data as compact JSON that cannot end its script element (`<`, `>` and `&` as \u escapes). Repeated
    /// strings (step names and states, revisions) are listed once and referred to by index: 10,000 clusters with
    /// every step stay a few hundred bytes each.
    static func embedded(_ report: RunReport) throws -> String {
        struct Row: Encodable {
            let n: String, s: String, a: String, r: String?, p: String, l: [String: String]?, w: Int, t: Double?
            let st: String?, v: Int?, k: String?, ec: String?, e: String?
            /// Per step: name index, state index, milliseconds (-1: none), attempts, and the failure's detail.
            let x: [[Compact]]
        }
        enum Compact: Encodable {
            case int(Int)
            case text(String)
            func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .int(let value): try container.encode(value)
                case .text(let value): try container.encode(value)
                }
            }
        }
        struct Table: Encodable { let names: [String], states: [String], revs: [String], rows: [Row] }
        var names: [String] = []
        var states: [String] = []
        var revisions: [String] = []
        var nameIndex: [String: Int] = [:]
        var stateIndex: [String: Int] = [:]
        var revisionIndex: [String: Int] = [:]
        func index(_ value: String, _ list: inout [String], _ lookup: inout [String: Int]) -> Int {
            if let known = lookup[value] { return known }
            list.append(value)
            lookup[value] = list.count - 1
            return list.count - 1
        }
        var rows: [Row] = []
        rows.reserveCapacity(report.clusters.count)
        for c in report.clusters {
            let steps = c.steps.map { step -> [Compact] in
                var entry: [Compact] = [
                    .int(index(step.name, &names, &nameIndex)), .int(index(step.state, &states, &stateIndex)),
                    .int(step.milliseconds ?? -1), .int(step.attempts),
                ]
                if let detail = step.detail { entry.append(.text(detail)) }
                return entry
            }
            rows.append(
                Row(
                    n: c.name, s: c.status, a: c.account, r: c.region, p: c.repository,
                    l: c.labels.isEmpty ? nil : c.labels, w: c.wave,
                    t: c.seconds.map { ($0 * 10).rounded() / 10 }, st: c.step,
                    v: c.revision.map { index($0, &revisions, &revisionIndex) }, k: c.keyId,
                    ec: c.errorClass, e: c.errorMessage, x: steps))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let text = String(
            decoding: try encoder.encode(Table(names: names, states: states, revs: revisions, rows: rows)),
            as: UTF8.self)
        return text.replacingOccurrences(of: "&", with: "\\u0026").replacingOccurrences(of: "<", with: "\\u003c")
            .replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "\u{2028}", with: "\\u2028").replacingOccurrences(of: "\u{2029}", with: "\\u2029")
    }

    static func n(_ value: Double) -> String { String(format: "%.1f", value) }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(s % 3600 / 60)m" }
        if s >= 60 { return "\(s / 60)m\(s % 60)s" }
        return seconds < 10 ? String(format: "%.1fs", seconds) : "\(s)s"
    }

    // MARK: Style and script (constants: no data in them)

    static let css = """
        :root{--bg:#fff;--fg:#1d2330;--muted:#8a93a6;--line:#e3e7ef;--ok:#2e9e5b;--bad:#d64545;--warn:#d9a21b;--accent\
        :#3d6fd9;--card:#f5f7fb;font:14px/1.45 system-ui,sans-serif}
        @media (prefers-color-scheme:dark){:root:not(.light){--bg:#14171d;--fg:#e4e8f0;--line:#2a303b;--card:#1c2029;-\
        -muted:#7c8598}}
        :root.dark{--bg:#14171d;--fg:#e4e8f0;--line:#2a303b;--card:#1c2029;--muted:#7c8598}
        body{margin:0;background:var(--bg);color:var(--fg)}header,main{padding:12px 24px}header{border-bottom:1px \
        solid var(--line);position:relative}
        h1{font-size:20px;margin:0}h2{font-size:16px;margin:24px 0 \
        8px}.meta,.muted{color:var(--muted)}#theme{position:absolute;right:24px;top:14px}
        .figures{display:flex;flex-wrap:wrap;gap:12px}.figure{background:var(--card);border-radius:8px;padding:10px \
        16px;min-width:90px}
        .figure b{display:block;font-size:22px}.figure span{color:var(--muted)}.figure.ok \
        b{color:var(--ok)}.figure.bad b{color:var(--bad)}
        .charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:16px;margin-top:16px}
        figure{margin:0;background:var(--card);border-radius:8px;padding:12px}figcaption{color:var(--muted);margin-bot\
        tom:6px}
        svg{width:100%;height:auto;font-size:10px;fill:var(--fg)}svg.bar{width:200px;height:12px}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid \
        var(--line);vertical-align:top}
        th[data-key]{cursor:pointer;user-select:none}th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
        td.status-failed{color:var(--bad);font-weight:600}td.status-succeeded{color:var(--ok)}tr.row{cursor:pointer}tr\
        .row:hover{background:var(--card)}
        tr.detail td{background:var(--card);white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px}
        tr.sev-critical td:first-child,tr.sev-error td:first-child{color:var(--bad);font-weight:600}tr.sev-warning \
        td:first-child{color:var(--warn)}
        .filters{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:8px}input,select,button{font:inherit;background:var\
        (--bg);color:var(--fg);border:1px solid var(--line);border-radius:6px;padding:4px 8px}
        #count{color:var(--muted);align-self:center}
        @media print{#theme,.filters,#more{display:none}body{background:#fff;color:#000}figure,.figure{break-inside:av\
        oid}tr.row{break-inside:avoid}}
        """

    static let script = """
        (function(){
        "use strict";
        var data=JSON.parse(document.getElementById("data").textContent),rows=data.rows;
        rows.forEach(function(r){r.l=r.l||{};r.rv=r.v===undefined||r.v===null?null:data.revs[r.v];});
        var body=document.querySelector("#clusters \
        tbody"),more=document.getElementById("more"),count=document.getElementById("count");
        var sortKey="name",sortDir=1,shown=200,filtered=rows;
        var keys={name:"n",status:"s",account:"a",region:"r",repository:"p",wave:"w",seconds:"t",step:"st"};
        function stepLine(x){return data.names[x[0]]+"  "+data.states[x[1]]+(x[2]>=0?"  "+x[2]+" ms":"")+(x[3]>1?" \
         ("+x[3]+" attempts)":"")+(x.length>4?"\\n    "+x[4]:"");}
        function el(tag,text,cls){var \
        e=document.createElement(tag);if(text!==undefined&&text!==null)e.textContent=String(text);if(cls)e.className=c\
        ls;return e;}
        function fill(id,key){var \
        seen={};rows.forEach(function(r){if(r[key])seen[r[key]]=1;});Object.keys(seen).sort().forEach(function(v){var \
        o=el("option",v);o.value=v;document.getElementById(id).appendChild(o);});}
        fill("f-status","s");fill("f-account","a");fill("f-region","r");fill("f-repository","p");
        function value(id){return document.getElementById(id).value;}
        function apply(){
          var q=value("q").toLowerCase(),st=value("f-status"),ac=value("f-account"),rg=value("f-region"),rp=value("f-r\
        epository"),lb=value("f-label").trim();
          var lk=null,lv=null;if(lb){var i=lb.indexOf("=");lk=i<0?lb:lb.slice(0,i);lv=i<0?null:lb.slice(i+1);}
          filtered=rows.filter(function(r){
            if(st&&r.s!==st)return false;if(ac&&r.a!==ac)return false;if(rg&&r.r!==rg)return \
        false;if(rp&&r.p!==rp)return false;
            if(lk!==null){if(!(lk in r.l))return false;if(lv!==null&&r.l[lk]!==lv)return false;}
            if(q){var hay=(r.n+" "+(r.e||"")+" "+(r.rv||"")+" "+(r.ec||"")+" \
        "+(r.k||"")).toLowerCase();if(hay.indexOf(q)<0)return false;}
            return true;});
          var k=keys[sortKey];
          filtered.sort(function(a,b){var x=a[k],y=b[k];if(x===y)return 0;if(x===undefined||x===null)return \
        1;if(y===undefined||y===null)return -1;return (x<y?-1:1)*sortDir;});
          shown=200;draw();}
        function draw(){
          while(body.firstChild)body.removeChild(body.firstChild);
          filtered.slice(0,shown).forEach(function(r){
            var tr=el("tr",undefined,"row");
            tr.appendChild(el("td",r.n));tr.appendChild(el("td",r.s,"status-"+r.s));tr.appendChild(el("td",r.a));tr.ap\
        pendChild(el("td",r.r||""));
            tr.appendChild(el("td",r.p));tr.appendChild(el("td",r.w+1));tr.appendChild(el("td",r.t===undefined||r.t===\
        null?"":r.t+"s"));
            tr.appendChild(el("td",r.e?(r.st||"")+": "+r.e.split("\\n")[0]:(r.rv||r.st||"")));
            tr.addEventListener("click",function(){
              var next=tr.nextSibling;if(next&&next.className==="detail"){body.removeChild(next);return;}
              var d=el("tr",undefined,"detail"),td=el("td");td.colSpan=8;
              var lines=r.x.map(stepLine);
              var head=[];if(r.rv)head.push("revision "+r.rv);if(r.k)head.push("key \
        "+r.k);Object.keys(r.l).sort().forEach(function(k){head.push(k+"="+r.l[k]);});
              if(r.e)head.push("error ("+(r.ec||"")+"): "+r.e);
              td.textContent=head.concat(lines).join("\\n");d.appendChild(td);body.insertBefore(d,tr.nextSibling);});
            body.appendChild(tr);});
          count.textContent=filtered.length+" of "+rows.length+" clusters";
          more.style.display=filtered.length>shown?"":"none";}
        more.addEventListener("click",function(){shown+=500;draw();});
        ["q","f-status","f-account","f-region","f-repository","f-label"].forEach(function(id){document.getElementById(\
        id).addEventListener("input",apply);});
        Array.prototype.forEach.call(document.querySelectorAll("th[data-key]"),function(th){th.addEventListener("click\
        ",function(){
          var key=th.getAttribute("data-key");sortDir=sortKey===key?-sortDir:1;sortKey=key;
          Array.prototype.forEach.call(document.querySelectorAll("th[data-key]"),function(h){h.className="";});th.clas\
        sName=sortDir>0?"asc":"desc";apply();});});
        document.getElementById("theme").addEventListener("click",function(){var c=document.documentElement.classList;
          var dark=c.contains("dark")||(!c.contains("light")&&matchMedia("(prefers-color-scheme: \
        dark)").matches);c.remove("dark","light");c.add(dark?"light":"dark");});
        apply();
        })();
        """
}
