//! The dashboard view: the login form, then KPI cards and the live
//! province table for the user's scope, and a locality's backlog.

use crate::api::{self, User};
use crate::live::{self, Status};
use leptos::prelude::*;
use model::kpi::{ProvinceRow, pct};
use serde_json::{Value, json};

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

/// Where the app stands with the session.
#[derive(Debug, Clone, PartialEq)]
enum Session {
    Checking,
    LoggedOut,
    LoggedIn(User),
}

#[component]
pub fn App() -> impl IntoView {
    let (session, set_session) = signal(Session::Checking);
    leptos::task::spawn_local(async move {
        let next = match api::request("GET", "/api/v1/session", None).await {
            Ok((200, body)) => User::from_json(&body).map_or(Session::LoggedOut, Session::LoggedIn),
            _ => Session::LoggedOut,
        };
        set_session.set(next);
    });
    move || match session.get() {
        Session::Checking => view! { <p class="empty">"…"</p> }.into_any(),
        Session::LoggedOut => {
            view! { <Login on_login=move |u| set_session.set(Session::LoggedIn(u)) /> }.into_any()
        }
        Session::LoggedIn(user) => view! { <Dashboard user=user /> }.into_any(),
    }
}

/// The product name and tagline at the left of every header.
#[component]
fn Brand() -> impl IntoView {
    view! {
        <div>
            <h1>"govpulse"</h1>
            <p class="sub">"Chuyển đổi số hành chính công — giám sát trực tiếp"</p>
        </div>
    }
}

#[component]
fn Login(on_login: impl Fn(User) + Copy + Send + Sync + 'static) -> impl IntoView {
    let username = NodeRef::<leptos::html::Input>::new();
    let password = NodeRef::<leptos::html::Input>::new();
    let (error, set_error) = signal(String::new());
    let (busy, set_busy) = signal(false);
    let submit = move |ev: web_sys::SubmitEvent| {
        ev.prevent_default();
        let (Some(u), Some(p)) = (username.get(), password.get()) else {
            return;
        };
        let body = json!({ "username": u.value(), "password": p.value() });
        set_busy.set(true);
        leptos::task::spawn_local(async move {
            match api::request("POST", "/api/v1/session", Some(&body)).await {
                Ok((200, body)) => match User::from_json(&body) {
                    Some(user) => on_login(user),
                    None => set_error.set("unexpected answer from the server".into()),
                },
                Ok((status, body)) => set_error.set(api::error_text(status, &body)),
                Err(e) => set_error.set(e),
            }
            set_busy.set(false);
        });
    };
    view! {
        <header>
            <Brand />
        </header>
        <main>
            <form id="login" class="panel login" on:submit=submit>
                <h2>"Đăng nhập — Sign in"</h2>
                <label>"User name" <input id="username" node_ref=username autocomplete="username" required /></label>
                <label>"Password" <input id="password" type="password" node_ref=password autocomplete="current-password" required /></label>
                <button id="login-button" type="submit" disabled=move || busy.get()>"Sign in"</button>
                <p id="login-error" class="error">{move || error.get()}</p>
            </form>
        </main>
    }
}

#[component]
fn UserBar(user: User) -> impl IntoView {
    let logout = move |_| {
        leptos::task::spawn_local(async move {
            let _ = api::request("DELETE", "/api/v1/session", None).await;
            api::reload();
        });
    };
    view! {
        <span class="user" id="user">{format!("{} · {} · {}", user.name, user.role, user.scope)}</span>
        <button id="logout" class="link" on:click=logout>"Sign out"</button>
    }
}

#[component]
fn Dashboard(user: User) -> impl IntoView {
    let topic = user.live_topic();
    let national = user.national;
    let live_view = topic.map(|t| view! { <Live topic=t user=user.clone() /> });
    let backlog = (!national).then(|| view! { <Backlog unit=user.scope.clone() /> });
    let bar = live_view
        .is_none()
        .then(|| view! { <header><Brand /><div class="status"><UserBar user=user.clone() /></div></header> });
    let kpis = view! { <Kpis unit=user.scope.clone() /> };
    view! { {bar} {live_view} {kpis} {backlog} }
}

/// Every KPI of DESIGN.md with its display name and the committee's target
/// (`../shared/reference/kpi-targets.md`); `None` where no number was set.
const KPI_TARGETS: [(&str, &str, Option<f64>); 11] = [
    ("online_dossiers", "Dossiers accepted online", Some(95.0)),
    ("on_time", "Handled on time", None),
    ("online_payment", "Fees paid online", Some(45.0)),
    ("e_result", "Results issued electronically", None),
    ("digitized", "Dossiers digitised", None),
    ("data_reuse", "Data re-used", Some(50.0)),
    ("satisfaction", "Satisfied ratings (4–5)", None),
    (
        "electronic_documents",
        "Documents exchanged electronically",
        Some(100.0),
    ),
    ("signed_documents", "Documents digitally signed", None),
    (
        "online_reports",
        "Reports submitted online on time",
        Some(100.0),
    ),
    ("video_meetings", "Meetings by video", Some(60.0)),
];

/// The newest day's KPIs for a unit against the targets, beside the last
/// hour and the last 24 hours of minute buckets (REST, refreshed every
/// 30 s; the live socket carries the per-minute overview).
#[component]
fn Kpis(unit: String) -> impl IntoView {
    let (row, set_row) = signal(Value::Null);
    let (error, set_error) = signal(String::new());
    let (hour, set_hour) = signal(Value::Null);
    let (day, set_day) = signal(Value::Null);
    // Communes have no minute windows of their own (the API says so); their
    // sliding columns stay empty.
    let (_, set_ignored) = signal(String::new());
    let path = format!("/api/v1/units/{unit}/kpis?period=day");
    let recent = move |minutes: u32| format!("/api/v1/units/{unit}/recent?minutes={minutes}");
    let (last_hour, last_day) = (recent(60), recent(1440));
    // The newest day is the last row.
    let load = move || {
        api::get_into(path.clone(), set_row, set_error, |body| {
            body["rows"]
                .as_array()
                .and_then(|r| r.last().cloned())
                .unwrap_or(Value::Null)
        });
        api::get_into(last_hour.clone(), set_hour, set_ignored, |b| {
            b["kpis"].clone()
        });
        api::get_into(last_day.clone(), set_day, set_ignored, |b| {
            b["kpis"].clone()
        });
    };
    load();
    let refresh = load.clone();
    if let Some(w) = web_sys::window() {
        let cb = wasm_bindgen::closure::Closure::<dyn FnMut()>::new(refresh);
        let _ = w.set_interval_with_callback_and_timeout_and_arguments_0(
            wasm_bindgen::JsCast::unchecked_ref(cb.as_ref()),
            30_000,
        );
        cb.forget();
    }
    let rows = move || {
        row.with(|r| {
            KPI_TARGETS
                .iter()
                .map(|(key, label, target)| {
                    let k = &r["kpis"][*key];
                    let value = k["value"].as_f64();
                    let (num, den) = (k["numerator"].as_u64(), k["denominator"].as_u64());
                    let status = match (value, target) {
                        (Some(v), Some(t)) if v >= *t => "meets",
                        (Some(_), Some(_)) => "below",
                        _ => "",
                    };
                    let sliding = |w: ReadSignal<Value>| move || w.with(|w| fmt_pct(w[*key]["value"].as_f64()));
                    view! {
                        <tr data-kpi=*key class=status>
                            <td class="name">{*label}</td>
                            <td class="num">{num.map_or("–".into(), fmt_int)}</td>
                            <td class="num">{den.map_or("–".into(), fmt_int)}</td>
                            <td class="num value">{fmt_pct(value)}</td>
                            <td class="num last-hour">{sliding(hour)}</td>
                            <td class="num last-day">{sliding(day)}</td>
                            <td class="num">{target.map_or("–".into(), |t| if t >= 100.0 { "100 %".to_owned() } else { format!("≥ {t:.0} %") })}</td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    let title = move || {
        row.with(|r| {
            format!(
                "KPIs against targets — {} ({}, {})",
                r["name"].as_str().unwrap_or("…"),
                unit_label(r),
                r["period"].as_str().unwrap_or("latest day")
            )
        })
    };
    let counts = move || {
        row.with(|r| {
            format!(
                "Open dossiers at the end of the day: {} overdue, {} due within one working day.",
                r["overdue_open"].as_u64().map_or("–".into(), fmt_int),
                r["due_soon_open"].as_u64().map_or("–".into(), fmt_int)
            )
        })
    };
    let summary =
        move || {
            row.with(|r| {
            let hours = |v: &Value| v.as_f64().map_or("–".into(), |h| format!("{h:.1} h"));
            let p = &r["processing_hours"];
            let processing = match p["resolved"].as_u64() {
                Some(n) if n > 0 => format!(
                    "Processing time of the {} dossiers resolved (working hours): p50 {}, p90 {}.",
                    fmt_int(n),
                    hours(&p["p50"]),
                    hours(&p["p90"])
                ),
                _ => "No dossier resolved in this period yet.".to_owned(),
            };
            format!(
                "{processing} 766-style score: {} / 100 (the indicators events can carry).",
                r["score_766"].as_f64().map_or("–".into(), |s| format!("{s:.1}"))
            )
        })
        };
    view! {
        <main class="tight">
            <section class="panel">
                <h2>{title}</h2>
                <p class="error">{move || error.get()}</p>
                <table id="kpis">
                    <thead><tr><th class="name">"Indicator"</th><th>"Numerator"</th><th>"Denominator"</th><th>"Value"</th><th title="the last 60 one-minute buckets">"Last hour"</th><th title="the last 1,440 one-minute buckets">"Last 24 h"</th><th>"Target"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
                <p class="empty">{counts}</p>
                <p class="empty" id="kpi-summary">{summary}</p>
            </section>
        </main>
    }
}

fn unit_label(row: &Value) -> String {
    row["unit"].as_str().unwrap_or("").to_owned()
}

#[component]
fn Live(topic: String, user: User) -> impl IntoView {
    let live = live::connect(topic);
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
        Status::SignedOut => "signed out",
    };
    let status_class = move || match live.status.get() {
        Status::Live => "pill live",
        _ => "pill down",
    };
    view! {
        <header>
            <Brand />
            <div class="status">
                <span id="status" class=status_class>{status_text}</span>
                <span class="seq">"seq " <span id="seq">{move || live.seq.get().map_or("–".into(), |s| s.to_string())}</span></span>
                <UserBar user=user />
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
                            key=|r: &ProvinceRow| (r.code.clone(), r.accepted, r.online, r.minutes.len(), r.final_before.clone(), r.corrections)
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

/// A locality's open dossiers, most urgent first (from the REST API; the
/// backlog is per dossier, so it is not pushed on the live socket).
#[component]
fn Backlog(unit: String) -> impl IntoView {
    let (data, set_data) = signal(Value::Null);
    let (error, set_error) = signal(String::new());
    let path = format!("/api/v1/units/{unit}/backlog?per_page=50");
    let csv = format!("/api/v1/units/{unit}/backlog?format=csv");
    let load = move || api::get_into(path.clone(), set_data, set_error, |body| body);
    load();
    let count = move |k: &str| data.with(|d| d["summary"][k].as_u64().map_or("–".into(), fmt_int));
    let rows = move || {
        data.with(|d| d["rows"].as_array().cloned().unwrap_or_default())
            .into_iter()
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                let state = s("state");
                let day = |k: &str| s(k).get(..16).unwrap_or("").replace('T', " ");
                view! {
                    <tr class=format!("state-{state}")>
                        <td>{s("dossier_id")}</td>
                        <td class="name">{s("unit_name")}</td>
                        <td>{s("procedure_code")}</td>
                        <td>{day("accepted_at")}</td>
                        <td>{day("due_at")}</td>
                        <td class="state">{state.replace('_', " ")}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    view! {
        <main>
            <section class="cards">
                <Card label="Open dossiers" id="backlog-open" value=Signal::derive(move || count("open")) />
                <Card label="Due within one working day" id="backlog-due-soon" value=Signal::derive(move || count("due_soon")) />
                <Card label="Overdue" id="backlog-overdue" value=Signal::derive(move || count("overdue")) />
            </section>
            <section class="panel">
                <h2>
                    "Backlog — " {unit.clone()} " (as of " {move || data.with(|d| d["as_of"].as_str().unwrap_or("–").get(..16).unwrap_or("–").replace('T', " "))} ")"
                    <a class="link" href=csv download>"Export CSV"</a>
                </h2>
                <p class="error">{move || error.get()}</p>
                <table id="backlog">
                    <thead><tr><th>"Dossier"</th><th class="name">"Unit"</th><th>"Procedure"</th><th>"Accepted"</th><th>"Due"</th><th>"State"</th></tr></thead>
                    <tbody>{rows}</tbody>
                </table>
            </section>
        </main>
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
            // Early (not yet final) buckets are lighter; buckets changed
            // after they were final are marked as corrected.
            let (class, note) = if m.corrections > 0 {
                ("corrected", format!(", corrected {}× after final", m.corrections))
            } else if m.is_final(&row.final_before) {
                ("final", String::new())
            } else {
                ("early", ", early result".to_owned())
            };
            let title = format!("{}: {} accepted, {} online{note}", m.minute.get(11..16).unwrap_or(""), m.accepted, m.online);
            view! { <rect class=class x=x y=24.0 - h width=w height=h><title>{title}</title></rect> }
        })
        .collect_view();
    view! {
        <tr data-code=row.code.clone()>
            <td class="name">{row.name.clone()} <span class="code">{row.code.clone()}</span></td>
            <td class="num">
                {fmt_int(row.accepted)}
                {(row.corrections > 0).then(|| view! { <span class="revised" title="late events changed final minutes">{format!("±{}", row.corrections)}</span> })}
            </td>
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
