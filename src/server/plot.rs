//! Inline SVG line plots for the status page: no script, no external
//! asset, every label escaped. One job: turn a few numeric series over
//! days into an `<svg>` element.

use std::fmt::Write as _;

use super::status::escape;

/// One plotted series.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Its name in the legend.
    pub name: &'a str,
    /// Its CSS colour (from a fixed palette; not user data).
    pub colour: &'static str,
    /// One value per x position.
    pub values: Vec<u64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 36.0;

/// The smallest "nice" number (1, 2 or 5 times a power of ten) at least
/// `x`, used as the axis maximum (at least 1).
pub fn nice_ceiling(x: u64) -> u64 {
    let mut p: u64 = 1;
    loop {
        for m in [1u64, 2, 5] {
            let v = p.saturating_mul(m);
            if v >= x || v == u64::MAX {
                return v.max(1);
            }
        }
        if p > u64::MAX / 10 {
            return u64::MAX;
        }
        p *= 10;
    }
}

/// A short count label: `950`, `12k`, `3.4M`.
pub fn short_count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{}k", n / 1000),
        _ if n < 10_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ if n < 1_000_000_000 => format!("{}M", n / 1_000_000),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// An SVG plot of `series` over `labels` (one per x position, e.g. dates;
/// about six are printed under the axis). `title` is the accessible name.
pub fn line_plot(title: &str, labels: &[String], series: &[Series<'_>]) -> String {
    let n = labels.len();
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0);
    let top = nice_ceiling(max);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |i: usize| -> f64 {
        if n <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (n - 1) as f64
        }
    };
    let y_of = |v: u64| -> f64 { TOP + plot_h - plot_h * (v as f64 / top as f64) };
    let mut s = String::with_capacity(4096);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" role=\"img\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\">\
         <title>{}</title>",
        escape(title)
    );
    // Horizontal grid lines and y labels at 0, ¼, ½, ¾ and the top.
    for q in 0..=4u64 {
        let v = top / 4 * q + if q == 4 { top % 4 } else { 0 };
        let y = y_of(v);
        let _ = write!(
            s,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" class=\"grid\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"ylabel\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            short_count(v)
        );
    }
    // About six x labels, the last one always.
    let step = n.div_ceil(6).max(1);
    for (i, label) in labels.iter().enumerate() {
        if i % step == 0 || i + 1 == n {
            let anchor = match i {
                0 if n > 1 => "start",
                _ if i + 1 == n && n > 1 => "end",
                _ => "middle",
            };
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"xlabel\" text-anchor=\"{anchor}\">{}</text>",
                x_of(i),
                HEIGHT - BOTTOM + 18.0,
                escape(label)
            );
        }
    }
    let _ = write!(
        s,
        "<line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" class=\"axis\"/>",
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h
    );
    for (k, ser) in series.iter().enumerate() {
        let points: Vec<String> = ser
            .values
            .iter()
            .take(n)
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i), y_of(*v)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            points.join(" "),
            escape(ser.name),
            c = ser.colour,
        );
        for (i, v) in ser.values.iter().take(n).enumerate() {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{}\"><title>{}: {} {}</title></circle>",
                x_of(i),
                y_of(*v),
                ser.colour,
                escape(labels.get(i).map(String::as_str).unwrap_or("")),
                v,
                escape(ser.name)
            );
        }
        // Legend along the top.
        let lx = LEFT + 170.0 * k as f64;
        let _ = write!(
            s,
            "<rect x=\"{lx:.1}\" y=\"8\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"18\" class=\"legend\">{}</text>",
            ser.colour,
            lx + 17.0,
            escape(ser.name)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_numbers() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(500), 500);
        assert_eq!(nice_ceiling(501), 1000);
        assert_eq!(nice_ceiling(u64::MAX), u64::MAX);
        assert_eq!(short_count(950), "950");
        assert_eq!(short_count(12_345), "12k");
        assert_eq!(short_count(3_400_000), "3.4M");
    }

    #[test]
    fn plots_points_within_the_frame_and_escapes() {
        let labels: Vec<String> = (0..30).map(|d| format!("d{d}<")).collect();
        let svg = line_plot(
            "a & b",
            &labels,
            &[Series {
                name: "hits<script>",
                colour: "#1f77b4",
                values: (0..30).map(|i| i * 7).collect(),
            }],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("<title>a &amp; b</title>"));
        assert!(!svg.contains("<script>") && svg.contains("hits&lt;script&gt;"));
        assert_eq!(svg.matches("<circle").count(), 30);
        // The largest value (203) sits below the axis top (nice ceiling 500).
        assert!(svg.contains(">500</text>"), "{svg}");
        for cap in svg.split("points=\"").skip(1) {
            let pts = cap.split('"').next().unwrap();
            for p in pts.split(' ') {
                let (x, y) = p.split_once(',').unwrap();
                let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
                assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
                assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{y}");
            }
        }
        // An empty plot still renders.
        assert!(line_plot("empty", &[], &[]).ends_with("</svg>"));
    }
}
