//! Subcommands beside `serve`: data generation, the demo, batch KPIs,
//! replay, and the administration of sources, users and rejected records.

pub mod demo;
pub mod generate;
pub mod kpi;
pub mod log;
pub mod rejected;
pub mod replay;
pub mod sources;
pub mod users;

/// A progress bar on standard error over `len` steps; hidden when standard
/// error is not a terminal (CI logs stay clean).
pub fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg:>10} [{bar:40}] {pos}/{len} {elapsed_precise} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}
