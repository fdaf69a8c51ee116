//! Golden cases from `sample-data/golden/*/`: input events through the real
//! decoder and engine, whole and split into small batches, against
//! hand-checked expected rows.

use pipelines::sources::ndjson;
use pipelines::sources::validate::Checks;
use pipelines::units::UnitRegistry;
use pipelines::windows::minute::MinuteWindows;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-data/golden");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.ndjson").exists())
        .collect();
    dirs.sort();
    dirs
}

/// The engine's rows in the golden format: totals and non-empty minutes.
fn rows(w: &MinuteWindows) -> Value {
    let rows: Vec<Value> = w
        .rows()
        .into_iter()
        .map(|r| {
            let minutes: serde_json::Map<String, Value> = r
                .minutes
                .iter()
                .filter(|m| m.accepted > 0 || m.online > 0)
                .map(|m| (m.minute.clone(), json!([m.accepted, m.online])))
                .collect();
            json!({"unit": r.code, "accepted": r.accepted, "online": r.online, "minutes": minutes})
        })
        .collect();
    json!({ "rows": rows })
}

#[tokio::test]
async fn golden_cases() {
    let units = Arc::new(UnitRegistry::embedded().unwrap());
    let cases = cases();
    assert!(cases.len() >= 3, "golden cases not found");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(case.join("input.ndjson")).unwrap();
        let expected: Value =
            serde_json::from_slice(&std::fs::read(case.join("expected.json")).unwrap()).unwrap();
        let decoded = ndjson::decode(&input, &units, Checks::default());
        assert!(
            decoded.rejected.is_empty(),
            "{name}: {:?}",
            decoded.rejected
        );
        let events: Vec<_> = decoded.events.into_iter().map(|(_, e)| e).collect();
        for batch in [events.len(), 3, 1] {
            let mut w = MinuteWindows::new(units.clone(), 48 * 60, 48 * 60);
            for chunk in events.chunks(batch.max(1)) {
                w.apply(chunk).await.unwrap();
            }
            assert_eq!(rows(&w), expected, "{name}, batches of {batch}");
        }
    }
}
