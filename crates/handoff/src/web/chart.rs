//! Charts of a day series, drawn on the server as inline SVG: no script, no library, the
//! CSP unchanged (shapes carry classes; their colours come from the stylesheet). A chart
//! is plain numbers and strings for the template, which escapes them; each chart also
//! carries its numbers as a table, so nothing is only a picture.

/// The drawing's size in SVG units (it scales to the width of its box).
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 190.0;
const LEFT: f64 = 46.0;
const RIGHT: f64 = 10.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;
/// At most this many dates under the x axis.
const X_LABELS: usize = 8;

pub struct Chart {
    /// The element id's stem (`kpi-sla`): the SVG's title and description ids hang off it.
    pub id: &'static str,
    pub title: String,
    /// What the chart says, in words (the SVG's `<desc>` and the line under the title).
    pub summary: String,
    pub view_box: String,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    pub lines: Vec<Line>,
    pub bars: Vec<Bar>,
    /// Series names with their class, for the legend.
    pub legend: Vec<(&'static str, &'static str)>,
    /// The numbers: a header and a row per day.
    pub columns: Vec<String>,
    pub rows: Vec<(String, Vec<String>)>,
    /// Nothing measured on any day.
    pub empty: bool,
    /// The plot's corners, for the axes.
    pub x0: String,
    pub x1: String,
    pub y0: String,
    pub y1: String,
}

/// A grid line or axis label: its coordinate and text.
pub struct Tick {
    pub pos: String,
    pub label: String,
}

pub struct Line {
    pub class: &'static str,
    /// `M x y L x y …`, broken where a day has no value.
    pub path: String,
    pub dots: Vec<Dot>,
}

pub struct Dot {
    pub x: String,
    pub y: String,
    /// "2026-11-30: 95%".
    pub label: String,
}

pub struct Bar {
    pub class: &'static str,
    pub x: String,
    pub y: String,
    pub w: String,
    pub h: String,
    pub label: String,
}

/// A rate as people read it: "95%", "99.5%" near the ends, "—" when not measured.
pub fn pct(v: Option<f64>) -> String {
    match v {
        None => "—".to_owned(),
        Some(v) => {
            let p = v * 100.0;
            if (p - p.round()).abs() < 0.05 || (1.0..=99.0).contains(&p) {
                format!("{p:.0}%")
            } else {
                format!("{p:.1}%")
            }
        }
    }
}

fn coord(v: f64) -> String {
    format!("{v:.1}")
}

/// The x centre of day `i` of `n`, and the width of a day's band.
fn band(i: usize, n: usize) -> (f64, f64) {
    let w = (WIDTH - LEFT - RIGHT) / n.max(1) as f64;
    (LEFT + w * (i as f64 + 0.5), w)
}

fn y_of(v: f64, max: f64) -> f64 {
    let plot = HEIGHT - TOP - BOTTOM;
    TOP + plot * (1.0 - (v / max).clamp(0.0, 1.0))
}

/// Dates under the axis: about `X_LABELS` of them, the last day always.
fn x_ticks(dates: &[String]) -> Vec<Tick> {
    let n = dates.len();
    let every = n.div_ceil(X_LABELS).max(1);
    dates
        .iter()
        .enumerate()
        .filter(|(i, _)| (n - 1 - i).is_multiple_of(every))
        .map(|(i, d)| Tick {
            pos: coord(band(i, n).0),
            // `2026-11-30` → `11-30`.
            label: d.get(5..).unwrap_or(d).to_owned(),
        })
        .collect()
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `v` (at least 1).
fn nice(v: f64) -> f64 {
    if v <= 1.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * mag)
}

fn frame(id: &'static str, title: &str, summary: String, dates: &[String]) -> Chart {
    Chart {
        id,
        title: title.to_owned(),
        summary,
        view_box: format!("0 0 {WIDTH} {HEIGHT}"),
        y_ticks: Vec::new(),
        x_ticks: x_ticks(dates),
        lines: Vec::new(),
        bars: Vec::new(),
        legend: Vec::new(),
        columns: Vec::new(),
        rows: Vec::new(),
        empty: true,
        x0: coord(LEFT),
        x1: coord(WIDTH - RIGHT),
        y0: coord(HEIGHT - BOTTOM),
        y1: coord(TOP),
    }
}

/// One rate series: a name, its class, a value per day (`None`: nothing measured).
pub struct RateSeries {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

/// Lines of rates (0–1) per day, on a 0–100% axis; days without a value leave a gap.
pub fn rates(
    id: &'static str,
    title: &str,
    summary: String,
    dates: &[String],
    series: Vec<RateSeries>,
) -> Chart {
    let n = dates.len();
    let mut c = frame(id, title, summary, dates);
    c.y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
        .into_iter()
        .map(|v| Tick {
            pos: coord(y_of(v, 1.0)),
            label: pct(Some(v)),
        })
        .collect();
    c.columns = series.iter().map(|s| s.name.to_owned()).collect();
    c.rows = dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let cells = series
                .iter()
                .map(|s| pct(s.values.get(i).copied().flatten()))
                .collect();
            (d.clone(), cells)
        })
        .collect();
    for s in &series {
        let mut path = String::new();
        let mut dots = Vec::new();
        let mut drawing = false;
        for (i, v) in s.values.iter().enumerate().take(n) {
            let Some(v) = v else {
                drawing = false;
                continue;
            };
            let (x, _) = band(i, n);
            let y = y_of(*v, 1.0);
            path.push_str(&format!(
                "{}{} {} ",
                if drawing { "L" } else { "M" },
                coord(x),
                coord(y)
            ));
            drawing = true;
            dots.push(Dot {
                x: coord(x),
                y: coord(y),
                label: format!("{}: {} {}", dates[i], s.name, pct(Some(*v))),
            });
        }
        if !dots.is_empty() {
            c.empty = false;
        }
        c.legend.push((s.name, s.class));
        c.lines.push(Line {
            class: s.class,
            path: path.trim_end().to_owned(),
            dots,
        });
    }
    c
}

/// One count series: a name, its class, a count per day.
pub struct CountSeries {
    pub name: &'static str,
    pub class: &'static str,
    pub values: Vec<i64>,
}

/// Stacked bars of counts per day, on an axis up to a round number.
pub fn counts(
    id: &'static str,
    title: &str,
    summary: String,
    dates: &[String],
    series: Vec<CountSeries>,
) -> Chart {
    let n = dates.len();
    let mut c = frame(id, title, summary, dates);
    let total = |i: usize| -> i64 {
        series
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0).max(0))
            .sum()
    };
    let top = (0..n).map(total).max().unwrap_or(0);
    let max = nice(top as f64);
    c.empty = top == 0;
    c.y_ticks = [0.0, 0.5, 1.0]
        .into_iter()
        .map(|f| max * f)
        .filter(|v| v.fract() == 0.0)
        .map(|v| Tick {
            pos: coord(y_of(v, max)),
            label: format!("{v:.0}"),
        })
        .collect();
    c.columns = series.iter().map(|s| s.name.to_owned()).collect();
    if series.len() > 1 {
        c.columns.push("all".to_owned());
    }
    for (i, d) in dates.iter().enumerate() {
        let (x, w) = band(i, n);
        let bar_w = (w * 0.7).max(1.0);
        let mut base = 0i64;
        let mut cells = Vec::new();
        for s in &series {
            let v = s.values.get(i).copied().unwrap_or(0).max(0);
            cells.push(v.to_string());
            if v > 0 {
                let y_top = y_of((base + v) as f64, max);
                let y_bottom = y_of(base as f64, max);
                c.bars.push(Bar {
                    class: s.class,
                    x: coord(x - bar_w / 2.0),
                    y: coord(y_top),
                    w: coord(bar_w),
                    h: coord((y_bottom - y_top).max(0.5)),
                    label: format!("{d}: {v} {}", s.name),
                });
            }
            base += v;
        }
        if series.len() > 1 {
            cells.push(base.to_string());
        }
        c.rows.push((d.clone(), cells));
    }
    c.legend = series.iter().map(|s| (s.name, s.class)).collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: usize) -> Vec<String> {
        (1..=n).map(|d| format!("2026-11-{d:02}")).collect()
    }

    #[test]
    fn rates_read_as_people_read_them() {
        assert_eq!(pct(None), "—");
        assert_eq!(pct(Some(0.95)), "95%");
        assert_eq!(pct(Some(1.0)), "100%");
        assert_eq!(pct(Some(0.995)), "99.5%");
        assert_eq!(pct(Some(0.004)), "0.4%");
        assert_eq!(pct(Some(0.0)), "0%");
    }

    #[test]
    fn a_line_breaks_where_a_day_has_no_value() {
        let c = rates(
            "t",
            "T",
            String::new(),
            &days(4),
            vec![RateSeries {
                name: "rate",
                class: "s0",
                values: vec![Some(1.0), Some(0.5), None, Some(0.0)],
            }],
        );
        let path = &c.lines[0].path;
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert_eq!(path.matches('L').count(), 1, "{path}");
        assert_eq!(c.lines[0].dots.len(), 3);
        assert_eq!(c.rows[2].1, vec!["—".to_owned()]);
        assert!(!c.empty);
        // 100% at the top of the plot, 0% at the bottom.
        assert_eq!(c.lines[0].dots[0].y, coord(TOP));
        assert_eq!(c.lines[0].dots[2].y, coord(HEIGHT - BOTTOM));
    }

    #[test]
    fn bars_stack_and_the_axis_ends_on_a_round_number() {
        let c = counts(
            "t",
            "T",
            String::new(),
            &days(3),
            vec![
                CountSeries {
                    name: "a",
                    class: "s0",
                    values: vec![3, 0, 4],
                },
                CountSeries {
                    name: "b",
                    class: "s1",
                    values: vec![4, 0, 0],
                },
            ],
        );
        assert_eq!(c.bars.len(), 3, "no bar for a zero");
        assert_eq!(c.y_ticks.last().map(|t| t.label.as_str()), Some("10"));
        assert_eq!(c.rows[0].1, vec!["3", "4", "7"]);
        assert!(!c.empty);
        let none = counts(
            "t",
            "T",
            String::new(),
            &days(2),
            vec![CountSeries {
                name: "a",
                class: "s0",
                values: vec![0, 0],
            }],
        );
        assert!(none.empty);
    }

    #[test]
    fn ninety_days_get_at_most_eight_dates_under_the_axis_the_last_included() {
        let dates: Vec<String> = (0..90).map(|i| format!("2026-09-{i:02}")).collect();
        let t = x_ticks(&dates);
        assert!(t.len() <= X_LABELS + 1, "{}", t.len());
        assert_eq!(t.last().map(|t| t.label.as_str()), Some("09-89"));
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(11.0), 20.0);
        assert_eq!(nice(0.0), 1.0);
    }
}
