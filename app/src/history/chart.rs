//! Executions per hour by status, as stacked SVG bars.

use leptos::prelude::*;

use crate::model::{ExecutionStatus, HourCount};

const HOUR_MS: i64 = 3_600_000;
const BAR: f64 = 10.0;
const HEIGHT: f64 = 100.0;

/// One stacked piece of a bar, in SVG units.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub hour: i64,
    pub status: ExecutionStatus,
    pub count: i64,
    pub x: f64,
    pub y: f64,
    pub height: f64,
}

/// The x axis' labels: `(percent from the left, "HH:00")` every `step` hours,
/// the step chosen so that at most eight labels show; a label at midnight
/// carries the date.
pub fn hour_ticks(from: i64, hours: usize) -> Vec<(f64, String)> {
    let step = [1, 2, 3, 6, 12, 24].into_iter().find(|step| hours / step <= 8).unwrap_or(48);
    (0..hours)
        .filter_map(|slot| {
            let hour = from + slot as i64 * HOUR_MS;
            let hour_of_day = hour.rem_euclid(24 * HOUR_MS) / HOUR_MS;
            (hour_of_day as usize).is_multiple_of(step).then(|| {
                let text = crate::ui::format_time(hour);
                let label = if hour_of_day == 0 { text[5..].to_string() } else { text[11..].to_string() };
                (slot as f64 / hours as f64 * 100.0, label)
            })
        })
        .collect()
}

/// Stacks each hour's counts (in `ExecutionStatus::ALL` order) and scales them
/// so the busiest hour fills the chart. Also returns the busiest hour's count
/// (the top of the y axis).
pub fn stack(counts: &[HourCount], from: i64, to: i64) -> (usize, i64, Vec<Piece>) {
    let hours = ((to - from) / HOUR_MS).max(1) as usize;
    let mut totals = vec![0_i64; hours];
    for c in counts {
        if let Some(total) = totals.get_mut(((c.hour - from) / HOUR_MS) as usize) {
            *total += c.count;
        }
    }
    let busiest_count = totals.iter().copied().max().unwrap_or(0);
    let busiest = busiest_count.max(1) as f64;
    let mut stacked = vec![0.0_f64; hours];
    let mut pieces = Vec::new();
    for &status in ExecutionStatus::ALL {
        for c in counts.iter().filter(|c| c.status == status) {
            let slot = ((c.hour - from) / HOUR_MS) as usize;
            let Some(below) = stacked.get_mut(slot) else { continue };
            let height = c.count as f64 / busiest * HEIGHT;
            *below += height;
            pieces.push(Piece {
                hour: c.hour,
                status,
                count: c.count,
                x: slot as f64 * BAR,
                y: HEIGHT - *below,
                height,
            });
        }
    }
    (hours, busiest_count, pieces)
}

#[component]
pub fn HourChart(counts: Vec<HourCount>, from: i64, to: i64) -> impl IntoView {
    let (hours, busiest, pieces) = stack(&counts, from, to);
    let total: i64 = counts.iter().map(|c| c.count).sum();
    let half = (busiest % 2 == 0 && busiest > 0).then(|| (busiest / 2).to_string());
    view! {
        <figure class="chart" data-testid="chart" data-total=total>
            <div class="chart-plot">
                // Axes are HTML beside the SVG: the SVG stretches to the width, which would distort text.
                <div class="chart-y muted" data-testid="chart-y-axis" aria-hidden="true">
                    <span>{busiest}</span><span>{half}</span><span>"0"</span>
                </div>
                <svg viewBox=format!("0 0 {} {HEIGHT}", hours as f64 * BAR) preserveAspectRatio="none" role="img"
                    aria-label="executions per hour by status">
                    {pieces.into_iter().map(|p| view! {
                        <rect class=format!("bar status-{}", p.status) x=p.x y=p.y width=BAR - 1.0 height=p.height
                            data-testid="chart-bar" data-status=p.status.to_string() data-count=p.count>
                            <title>{format!("{} {} at {}", p.count, p.status, crate::ui::format_time(p.hour))}</title>
                        </rect>
                    }).collect_view()}
                </svg>
                <div></div>
                <div class="chart-x muted" data-testid="chart-x-axis" aria-hidden="true">
                    {hour_ticks(from, hours).into_iter().map(|(left, label)| view! {
                        <span style:left=format!("{left:.2}%")>{label}</span>
                    }).collect_view()}
                </div>
            </div>
            <figcaption class="muted">
                {format!("Executions per hour (UTC), {} to {}", crate::ui::format_time(from), crate::ui::format_time(to))}
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_hour_fills_the_chart_and_statuses_stack() {
        let from = 10 * HOUR_MS;
        let counts = [
            HourCount { hour: from, status: ExecutionStatus::Succeeded, count: 3 },
            HourCount { hour: from, status: ExecutionStatus::Failed, count: 1 },
            HourCount { hour: from + 2 * HOUR_MS, status: ExecutionStatus::Succeeded, count: 2 },
        ];
        let (hours, busiest, pieces) = stack(&counts, from, from + 4 * HOUR_MS);
        assert_eq!((hours, busiest), (4, 4));
        let height: f64 = pieces.iter().filter(|p| p.hour == from).map(|p| p.height).sum();
        assert!((height - HEIGHT).abs() < 1e-9, "the busiest hour is full height");
        let third = pieces.iter().find(|p| p.hour == from + 2 * HOUR_MS).unwrap();
        assert_eq!((third.x, third.height), (20.0, 50.0));
        let failed = pieces.iter().find(|p| p.status == ExecutionStatus::Failed).unwrap();
        assert_eq!(failed.y, 0.0, "failed stacks on top of succeeded");
    }

    #[test]
    fn the_hour_axis_has_at_most_eight_labels_and_dates_at_midnight() {
        let from = 20 * 24 * HOUR_MS + 18 * HOUR_MS; // 1970-01-21 18:00
        let ticks = hour_ticks(from, 48);
        assert!(ticks.len() <= 8, "{ticks:?}");
        assert_eq!(ticks[0], (0.0, "18:00".to_string()));
        assert_eq!(ticks[1].1, "01-22 00:00");
        assert_eq!(ticks[2].1, "06:00");
        assert!((ticks[1].0 - 6.0 / 48.0 * 100.0).abs() < 1e-9);
        assert_eq!(hour_ticks(from, 4).len(), 4, "a short range labels every hour");
    }
}
