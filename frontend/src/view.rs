//! The dashboard view: national KPI cards and the live province table.

use crate::live::{self, Status};
use leptos::prelude::*;
use model::kpi::{ProvinceRow, pct};

/// National target for online dossiers (Secretariat conclusion): 95 %.
const ONLINE_TARGET_PCT: f64 = 95.0;

fn fmt_int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn fmt_pct(p: Option<f64>) -> String {
    p.map_or_else(|| "–".to_owned(), |p| format!("{p:.1} %"))
}

#[component]
pub fn App() -> impl IntoView {
    let live = live::connect();
    let totals = Memo::new(move |_| {
        live.rows.with(|rows| {
            rows.iter()
                .fold((0u64, 0u64), |(a, o), r| (a + r.accepted, o + r.online))
        })
    });
    let status_text = move || match live.status.get() {
        Status::Connecting => "connecting…",
        Status::Live => "live",
        Status::Reconnecting => "reconnecting…",
    };
    let status_class = move || match live.status.get() {
        Status::Live => "pill live",
        _ => "pill down",
    };
    view! {
        <header>
            <div>
                <h1>"govpulse"</h1>
                <p class="sub">"Chuyển đổi số hành chính công — giám sát trực tiếp"</p>
            </div>
            <div class="status">
                <span id="status" class=status_class>{status_text}</span>
                <span class="seq">"seq " <span id="seq">{move || live.seq.get().map_or("–".into(), |s| s.to_string())}</span></span>
            </div>
        </header>
        <main>
            <section class="cards">
                <Card label="Dossiers accepted" id="total-accepted" value=Signal::derive(move || fmt_int(totals.get().0)) />
                <Card label="Accepted online" id="total-online" value=Signal::derive(move || fmt_int(totals.get().1)) />
                <Card
                    label="Online share (target ≥ 95 %)"
                    id="online-share"
                    value=Signal::derive(move || { let (a, o) = totals.get(); fmt_pct(pct(o, a)) })
                />
                <Card label="Units reporting" id="units" value=Signal::derive(move || live.rows.with(|r| r.len().to_string())) />
            </section>
            <section class="panel">
                <h2>"Online dossiers by province and ministry (event time, last 30 minutes)"</h2>
                <table id="provinces">
                    <thead>
                        <tr>
                            <th class="name">"Unit"</th>
                            <th>"Accepted"</th>
                            <th>"Online"</th>
                            <th class="bar">"Online share vs 95 % target"</th>
                            <th>"Per minute"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || live.rows.get()
                            key=|r: &ProvinceRow| (r.code.clone(), r.accepted, r.online, r.minutes.len())
                            children=move |r: ProvinceRow| view! { <Row row=r /> }
                        />
                    </tbody>
                </table>
                <p class="empty" class:hidden=move || live.rows.with(|r| !r.is_empty())>"Waiting for events…"</p>
            </section>
        </main>
        <footer>"Updates received: " <span id="updates">{move || live.updates.get()}</span></footer>
    }
}

#[component]
fn Card(label: &'static str, id: &'static str, value: Signal<String>) -> impl IntoView {
    view! {
        <div class="card">
            <div class="label">{label}</div>
            <div class="value" id=id>{move || value.get()}</div>
        </div>
    }
}

#[component]
fn Row(row: ProvinceRow) -> impl IntoView {
    let share = row.online_pct();
    let width = share.unwrap_or(0.0).clamp(0.0, 100.0);
    let below = share.is_some_and(|s| s < ONLINE_TARGET_PCT);
    let peak = row
        .minutes
        .iter()
        .map(|m| m.accepted)
        .max()
        .unwrap_or(1)
        .max(1);
    let n = row.minutes.len().max(1);
    let bars = row
        .minutes
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let h = 22.0 * m.accepted as f64 / peak as f64;
            let x = i as f64 * 120.0 / n as f64;
            let w = (120.0 / n as f64 - 1.0).max(1.0);
            view! { <rect x=x y=24.0 - h width=w height=h><title>{format!("{}: {} accepted, {} online", &m.minute[11..16], m.accepted, m.online)}</title></rect> }
        })
        .collect_view();
    view! {
        <tr data-code=row.code.clone()>
            <td class="name">{row.name.clone()} <span class="code">{row.code.clone()}</span></td>
            <td class="num">{fmt_int(row.accepted)}</td>
            <td class="num">{fmt_int(row.online)}</td>
            <td class="bar">
                <div class="track">
                    <div class="fill" class:below=below style=format!("width:{width:.1}%")></div>
                    <div class="target" style=format!("left:{ONLINE_TARGET_PCT}%")></div>
                </div>
                <span class="pct">{fmt_pct(share)}</span>
            </td>
            <td><svg class="spark" viewBox="0 0 120 24" width="120" height="24">{bars}</svg></td>
        </tr>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_use_vietnamese_grouping() {
        assert_eq!(fmt_int(0), "0");
        assert_eq!(fmt_int(999), "999");
        assert_eq!(fmt_int(1234567), "1.234.567");
        assert_eq!(fmt_pct(None), "–");
        assert_eq!(fmt_pct(Some(56.04)), "56.0 %");
    }
}
