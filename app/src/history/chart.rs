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

/// Stacks each hour's counts (in `ExecutionStatus::ALL` order) and scales them
/// so the busiest hour fills the chart.
pub fn stack(counts: &[HourCount], from: i64, to: i64) -> (usize, Vec<Piece>) {
    let hours = ((to - from) / HOUR_MS).max(1) as usize;
    let mut totals = vec![0_i64; hours];
    for c in counts {
        if let Some(total) = totals.get_mut(((c.hour - from) / HOUR_MS) as usize) {
            *total += c.count;
        }
    }
    let busiest = totals.iter().copied().max().unwrap_or(0).max(1) as f64;
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
    (hours, pieces)
}

#[component]
pub fn HourChart(counts: Vec<HourCount>, from: i64, to: i64) -> impl IntoView {
    let (hours, pieces) = stack(&counts, from, to);
    let total: i64 = counts.iter().map(|c| c.count).sum();
    view! {
        <figure class="chart" data-testid="chart" data-total=total>
            <svg viewBox=format!("0 0 {} {HEIGHT}", hours as f64 * BAR) preserveAspectRatio="none" role="img"
                aria-label="executions per hour by status">
                {pieces.into_iter().map(|p| view! {
                    <rect class=format!("bar status-{}", p.status) x=p.x y=p.y width=BAR - 1.0 height=p.height
                        data-testid="chart-bar" data-status=p.status.to_string() data-count=p.count>
                        <title>{format!("{} {} at {}", p.count, p.status, crate::ui::format_time(p.hour))}</title>
                    </rect>
                }).collect_view()}
            </svg>
            <figcaption class="muted">
                {format!("Executions per hour, {} to {} UTC", crate::ui::format_time(from), crate::ui::format_time(to))}
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
        let (hours, pieces) = stack(&counts, from, from + 4 * HOUR_MS);
        assert_eq!(hours, 4);
        let height: f64 = pieces.iter().filter(|p| p.hour == from).map(|p| p.height).sum();
        assert!((height - HEIGHT).abs() < 1e-9, "the busiest hour is full height");
        let third = pieces.iter().find(|p| p.hour == from + 2 * HOUR_MS).unwrap();
        assert_eq!((third.x, third.height), (20.0, 50.0));
        let failed = pieces.iter().find(|p| p.status == ExecutionStatus::Failed).unwrap();
        assert_eq!(failed.y, 0.0, "failed stacks on top of succeeded");
    }
}
