//! Engine checkpoints: the live window state, the retained KPI state
//! (hourly sums and every dossier's history) and the per-source watermarks
//! together with the log offset they cover, in `DATA/checkpoint.json`, written atomically (temporary
//! file, `fsync`, rename, `fsync` of the directory). A restart loads the
//! checkpoint and reads only the log after its offset; the result equals
//! an uninterrupted run because the state is sums keyed by event time.
//!
//! A checkpoint that cannot be used (unreadable, another version, or an
//! offset beyond the log's committed length, e.g. the log was replaced)
//! is reported and ignored: the engine then reads the log from the start,
//! which is always correct, only slower.

use pipelines::kpi::fold::FoldCheckpoint;
use pipelines::windows::minute::WindowsCheckpoint;
use pipelines::windows::watermark::Watermarks;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The checkpoint file inside a data directory.
pub const FILE_NAME: &str = "checkpoint.json";
/// 2: the KPI fold joined the window state; 3: the per-source watermarks;
/// 4: every SQL counter and the corrections per minute bucket, and the
/// watermark results were final behind; 5: the clock of each province and
/// ministry (a locality's answers are judged at its own).
const VERSION: u32 = 5;

#[derive(Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// Log bytes folded into `windows`: always the end of a batch.
    pub log_offset: u64,
    pub windows: WindowsCheckpoint,
    pub kpis: FoldCheckpoint,
    pub watermarks: Watermarks,
    /// The newest event time folded per province and ministry.
    pub clocks: Clocks,
}

/// The newest event time folded (Unix seconds) per province and ministry
/// code: the clock a locality's answers are judged at.
pub type Clocks = std::collections::BTreeMap<String, i64>;

impl Checkpoint {
    pub fn new(
        log_offset: u64,
        windows: WindowsCheckpoint,
        kpis: FoldCheckpoint,
        watermarks: Watermarks,
        clocks: Clocks,
    ) -> Self {
        Self {
            version: VERSION,
            log_offset,
            windows,
            kpis,
            watermarks,
            clocks,
        }
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Write `cp` to `dir` atomically; returns its size in bytes. Blocking.
pub fn save(dir: &Path, cp: &Checkpoint) -> std::io::Result<u64> {
    let tmp = dir.join(format!("{FILE_NAME}.tmp"));
    let bytes = {
        let mut f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, &mut f);
        serde_json::to_writer(&mut w, cp)?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        f.metadata()?.len()
    };
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(bytes)
}

/// The checkpoint in `dir` if there is a usable one for a log of
/// `committed` bytes; why not otherwise (`Ok(None)` when there is none).
pub fn load(dir: &Path, committed: u64) -> Result<Option<Checkpoint>, String> {
    let p = path(dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", p.display())),
    };
    let cp: Checkpoint =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    if cp.version != VERSION {
        return Err(format!(
            "{}: version {} (this server writes {VERSION})",
            p.display(),
            cp.version
        ));
    }
    if cp.log_offset > committed {
        return Err(format!(
            "{}: covers {} log bytes but the log has {committed}",
            p.display(),
            cp.log_offset
        ));
    }
    Ok(Some(cp))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(offset: u64) -> Checkpoint {
        Checkpoint::new(
            offset,
            WindowsCheckpoint {
                max_event_micros: 7,
                final_before_micros: 5,
                bins: vec![("01".into(), vec![(0, vec![2, 1], 1)])],
                totals: vec![("01".into(), vec![2, 1], 1)],
            },
            FoldCheckpoint {
                partials: vec![("01".into(), 3600, 0, vec![1, 2])],
                span: Some((3600, 3700)),
                events: 3,
                ..FoldCheckpoint::default()
            },
            Watermarks::default(),
            [("01".to_owned(), 3700)].into(),
        )
    }

    #[test]
    fn saves_atomically_and_loads_only_what_the_log_covers() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), 100).unwrap().is_none());
        save(dir.path(), &cp(40)).unwrap();
        save(dir.path(), &cp(80)).unwrap();
        assert!(!dir.path().join("checkpoint.json.tmp").exists());
        let back = load(dir.path(), 100).unwrap().unwrap();
        assert_eq!(back.log_offset, 80);
        assert_eq!(back.windows, cp(80).windows);
        assert_eq!(back.kpis.partials, cp(80).kpis.partials);
        assert_eq!(back.clocks, cp(80).clocks);
        // A log shorter than the checkpoint (replaced, restored from an
        // older backup): not usable.
        assert!(
            load(dir.path(), 79)
                .unwrap_err()
                .contains("covers 80 log bytes")
        );
        std::fs::write(path(dir.path()), b"{\"version\":1").unwrap();
        assert!(load(dir.path(), 100).is_err());
    }
}
