//! The hit-latency plot, as an SVG.

use std::fmt::Write as _;

/// A line of the plot: its name, its colour, and (token count, ns) points.
pub(crate) type Series<'a> = (&'a str, &'a str, Vec<(u64, f64)>);

/// Hit latency against token count, one line per series, as an SVG.
pub(crate) fn plot(series: &[Series<'_>]) -> String {
    let (w, h, left, bottom, top, right) = (640.0, 400.0, 70.0, 50.0, 30.0, 190.0);
    let max_ns = series.iter().flat_map(|s| s.2.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.15;
    let (lo, hi) = (10_000f64.log10(), 1_000_000f64.log10());
    let x = |n: u64| left + ((n as f64).log10() - lo) / (hi - lo) * (w - left - right);
    let y = |ns: f64| h - bottom - ns / max_ns * (h - bottom - top);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">tollgate: cache-hit time against token count</text>\n",
        (w - right + left) / 2.0
    );
    for n in [10_000u64, 100_000, 1_000_000] {
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{n}</text>",
            x(n),
            top,
            h - bottom,
            h - bottom + 18.0
        );
    }
    let step = if max_ns > 1000.0 { 200.0 } else { 100.0 };
    let mut tick = 0.0;
    while tick <= max_ns {
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#eee\"/><text x=\"{2}\" y=\"{3}\" text-anchor=\"end\">{tick}</text>",
            y(tick),
            w - right,
            left - 6.0,
            y(tick) + 4.0
        );
        tick += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">tokens in the store (log scale)</text>\
         <text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">ns per verification (median)</text>",
        (w - right + left) / 2.0,
        h - 10.0,
        (h - bottom + top) / 2.0
    );
    for (k, (name, color, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(n, ns)| format!("{:.1},{:.1}", x(n), y(ns)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        for &(n, ns) in points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                x(n),
                y(ns)
            );
        }
        let ly = top + 10.0 + 20.0 * k as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{0}\" y1=\"{ly}\" x2=\"{1}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/><text x=\"{2}\" y=\"{3}\">{name}</text>",
            w - right + 10.0,
            w - right + 30.0,
            w - right + 35.0,
            ly + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
