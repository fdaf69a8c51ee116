//! Golden KPI cases from `sample-data/golden-kpi/*/`: hand-checked
//! numerators and denominators of every KPI through the batch report.

use pipelines::kpi::report::{ReportSpec, report};
use pipelines::sources::ndjson;
use pipelines::sources::validate::Checks;
use pipelines::units::UnitRegistry;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

#[tokio::test]
async fn golden_kpi_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/golden-kpi");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.ndjson").exists())
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no golden KPI cases in {}",
        root.display()
    );
    let units = Arc::new(UnitRegistry::embedded().unwrap());
    let calendar = sample_data::calendar().unwrap();
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("input.ndjson")).unwrap();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
        let d = ndjson::decode(&input, &units, Checks::default());
        assert!(d.rejected.is_empty(), "{name}: {:?}", d.rejected);
        let events: Vec<_> = d.events.into_iter().map(|(_, e)| e).collect();
        for chunk in [events.len(), 2] {
            let spec = ReportSpec {
                level: expected["level"].as_str().unwrap().parse().unwrap(),
                period: expected["period"].as_str().unwrap().parse().unwrap(),
                chunk,
            };
            let rows = report(&events, units.clone(), &calendar, spec)
                .await
                .unwrap();
            let got: Vec<Value> = rows
                .iter()
                .map(|r| {
                    for v in r.kpis.values() {
                        let want = (v.denominator > 0)
                            .then(|| v.numerator as f64 * 100.0 / v.denominator as f64);
                        assert_eq!(v.value, want);
                    }
                    let kpis: serde_json::Map<String, Value> = r
                        .kpis
                        .iter()
                        .map(|(k, v)| (k.to_string(), json!([v.numerator, v.denominator])))
                        .collect();
                    let round = |v: f64| (v * 10.0).round() / 10.0;
                    let p = &r.processing_hours;
                    json!({"period": r.period, "unit": r.unit, "kpis": kpis,
                           "overdue_open": r.overdue_open, "due_soon_open": r.due_soon_open,
                           "processing_hours": {"resolved": p.resolved,
                               "p50": p.p50.map(round), "p90": p.p90.map(round)},
                           "score_766": r.score_766.map(round)})
                })
                .collect();
            assert_eq!(
                Value::Array(got),
                expected["rows"],
                "{name}, micro-batches of {chunk}"
            );
        }
    }
}
