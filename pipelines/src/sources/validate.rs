//! The event contract v1 as code: a record in, an [`Event`] or the list of
//! broken rules out. The JSON Schema shipped with the project states the
//! same rules for senders.
//!
//! A record is anything that can answer "what is in field F" ([`Record`]):
//! a JSON object (NDJSON, CSV rows) or one row of an Arrow batch (Parquet,
//! read column by column without building JSON first).

use super::{Field, FieldError};
use crate::units::UnitRegistry;
use chrono::{DateTime, Datelike, FixedOffset};
use model::{Channel, DocDirection, DossierStatus, Event, EventKind, Id, MeetingMode, UnitCode};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::LazyLock;

/// Each catalogue procedure's legal handling time in working days, and the
/// working-time calendar (both embedded reference data).
static LEGAL_DAYS: LazyLock<Option<(HashMap<String, u32>, model::calendar::WorkCalendar)>> =
    LazyLock::new(|| {
        let catalogue = sample_data::catalogue::Catalogue::embedded().ok()?;
        let days = catalogue
            .procedures
            .into_iter()
            .map(|p| (p.code, p.handling_days))
            .collect();
        Some((days, sample_data::calendar().ok()?))
    });

/// The legal due date of a dossier of `procedure` accepted at `at`:
/// its handling time in working days later (07:00–11:30, 13:30–17:00,
/// weekends and holidays off); `None` for a procedure not in the
/// catalogue.
pub fn legal_due(procedure: &str, at: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
    let (days, calendar) = LEGAL_DAYS.as_ref()?;
    let days = *days.get(procedure)?;
    Some(calendar.add_working_days(at, i64::from(days)))
}

const MAX_ID_LEN: usize = 128;
/// The local years a time may fall in.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;
/// The largest payment amount, in đồng.
const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// The satisfaction ratings.
const RATINGS: std::ops::RangeInclusive<i64> = 1..=5;

/// Validation settings that depend on the caller, not on the record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checks {
    /// Refuse events stamped later than this (ingest time plus clock skew);
    /// `None` when replaying history.
    pub not_after: Option<DateTime<FixedOffset>>,
}

/// One field's value as a record carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Text(&'a str),
    Bool(bool),
    Int(i64),
    /// An instant from a typed time column (a Parquet TIMESTAMP), in the
    /// offset of its column's time zone; `None` when it lies beyond what a
    /// date can hold.
    Time(Option<DateTime<FixedOffset>>),
    /// A cell of a column whose type no contract field takes (a Parquet
    /// DATE, a float, ...), named in the error.
    Column(&'a arrow::datatypes::DataType),
    /// Anything else (a JSON array or float).
    Other,
}

/// A record to validate: field access by contract field ([`Field`], a
/// position in the contract's field list).
pub trait Record {
    /// The value of `field`; `None` when absent or null.
    fn get(&self, field: Field) -> Option<FieldValue<'_>>;
    /// Names of present, non-null fields that are not in the contract.
    fn unknown_fields(&self) -> Vec<String>;
}

impl Record for Map<String, Value> {
    fn get(&self, field: Field) -> Option<FieldValue<'_>> {
        Some(match Map::get(self, field.name())? {
            Value::Null => return None,
            Value::String(s) => FieldValue::Text(s),
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => n.as_i64().map_or(FieldValue::Other, FieldValue::Int),
            _ => FieldValue::Other,
        })
    }

    fn unknown_fields(&self) -> Vec<String> {
        self.keys()
            .filter(|k| super::field_type(k).is_none())
            .cloned()
            .collect()
    }
}

/// Generic over the record, so that reading a field is a direct (and
/// inlinable) call for each kind of record rather than a virtual one.
struct Ctx<'a, R: Record + ?Sized> {
    rec: &'a R,
    errors: Vec<FieldError>,
}

impl<'a, R: Record + ?Sized> Ctx<'a, R> {
    fn fail(&mut self, field: &str, rule: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            rule: rule.to_owned(),
            message: message.into(),
        });
    }

    fn fail_at(&mut self, field: Field, rule: &str, message: impl Into<String>) {
        self.fail(field.name(), rule, message);
    }

    fn present(&self, field: Field) -> Option<FieldValue<'a>> {
        self.rec.get(field)
    }

    /// A `type` error: `field` must be `want`; a typed column's type is
    /// named, since the sender cannot see it in the record.
    fn wrong_type(&mut self, field: Field, want: &str, got: FieldValue<'_>) {
        let found = match got {
            FieldValue::Column(t) => format!(", not a column of type {t}"),
            FieldValue::Time(_) => ", not a timestamp".to_owned(),
            _ => String::new(),
        };
        self.fail_at(field, "type", format!("{field} must be {want}{found}"));
    }

    fn string(&mut self, field: Field, required: bool) -> Option<Id> {
        self.text(field, required).map(Id::from)
    }

    /// [`Self::string`] borrowed from the record: for values that are
    /// parsed, not kept.
    fn text(&mut self, field: Field, required: bool) -> Option<&'a str> {
        match self.present(field) {
            None if required => {
                self.fail_at(field, "required", format!("{field} is required"));
                None
            }
            None => None,
            Some(FieldValue::Text(s)) if s.is_empty() && required => {
                self.fail_at(field, "required", format!("{field} must not be empty"));
                None
            }
            Some(FieldValue::Text(s)) => Some(s),
            Some(other) => {
                self.wrong_type(field, "a string", other);
                None
            }
        }
    }

    fn id(&mut self, field: Field) -> Option<Id> {
        let s = self.text(field, true)?;
        if s.len() > MAX_ID_LEN {
            self.fail_at(
                field,
                "max_length",
                format!("{field} is longer than {MAX_ID_LEN} bytes"),
            );
            return None;
        }
        if has_control(s) {
            self.no_control(field);
            return None;
        }
        Some(Id::from(s))
    }

    fn no_control(&mut self, field: Field) {
        self.fail_at(
            field,
            "format",
            format!("{field} must not contain control characters (U+0000-U+001F, U+007F-U+009F)"),
        );
    }

    fn boolean(&mut self, field: Field, required: bool) -> Option<bool> {
        match self.present(field) {
            None if required => {
                self.fail_at(field, "required", format!("{field} is required"));
                None
            }
            None => None,
            Some(FieldValue::Bool(b)) => Some(b),
            Some(other) => {
                self.wrong_type(field, "true or false", other);
                None
            }
        }
    }

    fn integer(&mut self, field: Field, required: bool, min: i64, max: i64) -> Option<i64> {
        match self.present(field) {
            None if required => {
                self.fail_at(field, "required", format!("{field} is required"));
                None
            }
            None => None,
            Some(v) => match v {
                FieldValue::Int(n) if (min..=max).contains(&n) => Some(n),
                FieldValue::Int(_) => {
                    self.fail_at(
                        field,
                        "range",
                        format!("{field} must be between {min} and {max}"),
                    );
                    None
                }
                other => {
                    self.wrong_type(field, "an integer", other);
                    None
                }
            },
        }
    }

    fn time(&mut self, field: Field, required: bool) -> Option<DateTime<FixedOffset>> {
        let read = match self.present(field) {
            // An instant from a timestamp column: only its year to check.
            Some(FieldValue::Time(t)) => Ok(t.map(|t| (t, t.year()))),
            Some(FieldValue::Text(_)) | None => {
                let s = self.text(field, required)?;
                parse_time_and_year(s).map(Some)
            }
            Some(other) => {
                self.wrong_type(field, "an RFC 3339 time (text) or a timestamp", other);
                return None;
            }
        };
        match read {
            Ok(Some((t, year))) if YEARS.contains(&year) => Some(t),
            Ok(_) => {
                self.fail_at(
                    field,
                    "range",
                    format!("{field} must lie between the years 2000 and 2100"),
                );
                None
            }
            Err(_) => {
                self.fail_at(
                    field,
                    "format",
                    format!("{field} must be an RFC 3339 time with an offset, e.g. 2025-11-20T08:15:00+07:00"),
                );
                None
            }
        }
    }

    fn choice<T>(
        &mut self,
        field: Field,
        required: bool,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Option<T> {
        let s = self.text(field, required)?;
        let v = parse(s);
        if v.is_none() {
            self.fail_at(
                field,
                "enum",
                format!("{field} must be one of {allowed}, not {s:?}"),
            );
        }
        v
    }
}

/// An RFC 3339 time, as `DateTime::parse_from_rfc3339` reads it. The
/// shape every sender in practice uses (`2025-11-20T08:15:00+07:00`, or
/// `Z`) is read directly; anything else (fractions of a second, a space
/// for the `T`, a leap second, a malformed value) goes to chrono, which
/// also words the error.
pub fn parse_time(s: &str) -> chrono::ParseResult<DateTime<FixedOffset>> {
    parse_time_and_year(s).map(|(t, _)| t)
}

/// [`parse_time`] and the local year. The fast form reads the year from
/// the text rather than from the time (an offset conversion and a date
/// split per time).
fn parse_time_and_year(s: &str) -> chrono::ParseResult<(DateTime<FixedOffset>, i32)> {
    match fast_time(s.as_bytes()) {
        Some(t) => Ok(t),
        None => DateTime::parse_from_rfc3339(s).map(|t| (t, t.year())),
    }
}

/// The time of the common RFC 3339 shape and its local year; `None` for
/// anything else ([`parse_time`]).
fn fast_time(b: &[u8]) -> Option<(DateTime<FixedOffset>, i32)> {
    let digits = |at: usize, n: usize| -> Option<u32> {
        b.get(at..at + n)?.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let punct = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if !punct.iter().all(|&(i, c)| b.get(i) == Some(&c)) {
        return None;
    }
    let offset = match (b.len(), b.get(19)) {
        (20, Some(b'Z')) => 0,
        (25, Some(&sign @ (b'+' | b'-'))) if b[22] == b':' => {
            let (h, m) = (digits(20, 2)?, digits(23, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    // Second 60 (a leap second) is chrono's to read.
    let (h, m, sec) = (digits(11, 2)?, digits(14, 2)?, digits(17, 2)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let day = local_day(b, offset, || {
        chrono::NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 2)?, digits(8, 2)?)
    })?;
    // The UTC time is the UTC start of the local day plus the time of day,
    // at most one day later.
    let utc = day.start + (h * 3600 + m * 60 + sec) as i32;
    let (date, utc) = if utc < DAY_SECS {
        (day.date, utc)
    } else {
        (day.next, utc - DAY_SECS)
    };
    let time = chrono::NaiveTime::from_num_seconds_from_midnight_opt(utc as u32, 0)?;
    let t = DateTime::from_naive_utc_and_offset(
        chrono::NaiveDateTime::new(date, time),
        FixedOffset::east_opt(offset)?,
    );
    Some((t, day.year))
}

const DAY_SECS: i32 = 86_400;

/// Where a local day starts in UTC: its date there, the second of that
/// date, and the date after it.
#[derive(Clone, Copy)]
struct LocalDay {
    date: chrono::NaiveDate,
    start: i32,
    next: chrono::NaiveDate,
    /// The year of the local date.
    year: i32,
}

/// A remembered [`LocalDay`], by its date text and offset.
type DayEntry = Option<([u8; 10], i32, LocalDay)>;

thread_local! {
    /// The last two local days read on this thread, the latest first:
    /// events come in time order, so nearly every time falls on the day of
    /// one just read (an `occurred_at` and a `due_at` on another day take
    /// turns), and its calendar arithmetic is done once.
    static LAST_DAYS: std::cell::Cell<[DayEntry; 2]> = const { std::cell::Cell::new([None; 2]) };
}

/// The [`LocalDay`] of the date text at the start of `b` at `offset`
/// seconds east of UTC; `date` reads the date when it is not remembered.
fn local_day(
    b: &[u8],
    offset: i32,
    date: impl FnOnce() -> Option<chrono::NaiveDate>,
) -> Option<LocalDay> {
    let text: [u8; 10] = b.get(..10)?.try_into().ok()?;
    let days = LAST_DAYS.get();
    if let Some((_, _, day)) = days
        .iter()
        .flatten()
        .find(|(t, o, _)| *t == text && *o == offset)
    {
        return Some(*day);
    }
    let local = date()?;
    let start = local.and_hms_opt(0, 0, 0)? - chrono::TimeDelta::seconds(i64::from(offset));
    let day = LocalDay {
        date: start.date(),
        start: chrono::Timelike::num_seconds_from_midnight(&start.time()) as i32,
        next: start.date().succ_opt()?,
        year: local.year(),
    };
    LAST_DAYS.set([Some((text, offset, day)), days[0]]);
    Some(day)
}

/// Whether `s` holds a control character: C0 (U+0000-U+001F), DEL
/// (U+007F) or C1 (U+0080-U+009F). Ids end up in CSV exports, terminals
/// and spreadsheets, where such characters hide or rewrite what is shown.
///
/// A byte scan, eight bytes at a time: every id of every record goes
/// through it. A word is suspect when a byte is below 0x20, is DEL, or
/// is 0xC2, the first byte of every C1 character (0xC2 0x80-0x9F; in
/// valid UTF-8 a 0xC2 byte only ever starts a character); only a suspect
/// id is looked at byte by byte. The word tricks may flag a byte that is
/// none of these, never miss one that is. Out of line: inlined into
/// [`accept_dossier`] twice, it pushed the reading of times out of it.
#[inline(never)]
pub fn has_control(s: &str) -> bool {
    /// Flags under every byte of `x` (as `$t`) that is below 0x20, DEL or
    /// 0xC2, and perhaps under some byte above such a one.
    macro_rules! flags {
        ($x:expr, $t:ty) => {{
            const ONES: $t = <$t>::MAX / 0xff;
            const HIGH: $t = ONES * 0x80;
            let x: $t = $x;
            let zero = |v: $t| v.wrapping_sub(ONES) & !v & HIGH;
            (x.wrapping_sub(ONES * 0x20) & !x & HIGH)
                | zero(x ^ (ONES * 0x7f))
                | zero(x ^ (ONES * 0xC2))
        }};
    }
    let b = s.as_bytes();
    let n = b.len();
    let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default());
    // Whole words and the last word, which may overlap the one before:
    // two loads for an id of 4-7 bytes, two for one of 9-16.
    let flagged = if n >= 8 {
        let mut any = flags!(u64_at(n - 8), u64);
        let mut at = 0;
        while at + 8 < n {
            any |= flags!(u64_at(at), u64);
            at += 8;
        }
        any != 0
    } else if n >= 4 {
        flags!(u32_at(0), u32) | flags!(u32_at(n - 4), u32) != 0
    } else {
        b.iter().any(|&c| c < 0x20 || c == 0x7f || c == 0xC2)
    };
    flagged
        && b.iter().enumerate().any(|(i, &c)| {
            c < 0x20 || c == 0x7f || (c == 0xC2 && matches!(b.get(i + 1), Some(0x80..=0x9F)))
        })
}

fn is_procedure_code(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 8 && b[0].is_ascii_digit() && b[1] == b'.' && b[2..].iter().all(u8::is_ascii_digit)
}

/// Check one decoded JSON value against the contract.
pub fn validate(
    value: &Value,
    units: &UnitRegistry,
    checks: Checks,
) -> Result<Event, Vec<FieldError>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldError {
            field: "$".into(),
            rule: "type".into(),
            message: "a record must be a JSON object".into(),
        }]);
    };
    validate_record(obj, units, checks)
}

/// Check one record against the contract.
pub fn validate_record<R: Record + ?Sized>(
    rec: &R,
    units: &UnitRegistry,
    checks: Checks,
) -> Result<Event, Vec<FieldError>> {
    let mut c = Ctx {
        rec,
        errors: Vec::new(),
    };
    for key in rec.unknown_fields() {
        // A member or column with an empty name is still named: as "",
        // and the message says which it is.
        let (key, what) = if key.is_empty() {
            ("\"\"".to_owned(), "a field with an empty name".to_owned())
        } else {
            (key.clone(), key)
        };
        c.fail(
            &key,
            "unknown_field",
            format!("{what} is not a field of the event contract v1"),
        );
    }

    let event_id = c.id(f!("event_id"));
    let kind = c.choice(
        f!("kind"),
        true,
        "dossier, document, report, meeting",
        |s| match s {
            "dossier" => Some(EventKind::Dossier),
            "document" => Some(EventKind::Document),
            "report" => Some(EventKind::Report),
            "meeting" => Some(EventKind::Meeting),
            _ => None,
        },
    );
    let occurred_at = c.time(f!("occurred_at"), true);
    if let (Some(t), Some(limit)) = (occurred_at, checks.not_after)
        && t > limit
    {
        c.fail_at(
            f!("occurred_at"),
            "not_in_future",
            format!("occurred_at {t} is later than the server clock allows ({limit})"),
        );
    }
    let unit = c
        .text(f!("unit"), true)
        .and_then(|s| match UnitCode::parse(s) {
            // Never a code; said as such rather than as a malformed one.
            Err(_) if has_control(s) => {
                c.no_control(f!("unit"));
                None
            }
            Ok(u) if units.index_of(&u).is_some() => Some(u),
            Ok(_) => {
                c.fail_at(
                    f!("unit"),
                    "unknown_unit",
                    format!("unit {s:?} is not a known GSO or ministry code"),
                );
                None
            }
            Err(e) => {
                c.fail_at(f!("unit"), "format", e.to_string());
                None
            }
        });

    let mut ev = match (event_id, kind, occurred_at, unit) {
        (Some(id), Some(kind), Some(at), Some(unit)) => Some(Event::new(id, kind, at, unit)),
        _ => None,
    };
    match kind {
        Some(EventKind::Dossier) => dossier(&mut c, ev.as_mut(), occurred_at),
        Some(EventKind::Document) => {
            let doc_id = c.id(f!("doc_id"));
            let direction = c.choice(f!("direction"), true, "issued, received", |s| match s {
                "issued" => Some(DocDirection::Issued),
                "received" => Some(DocDirection::Received),
                _ => None,
            });
            let electronic = c.boolean(f!("electronic"), true);
            let signed = c.boolean(f!("signed"), true);
            if let Some(e) = ev.as_mut() {
                (e.doc_id, e.direction, e.electronic, e.signed) =
                    (doc_id, direction, electronic, signed);
            }
        }
        Some(EventKind::Report) => {
            let report_id = c.id(f!("report_id"));
            let due_at = c.time(f!("due_at"), true);
            let online = c.boolean(f!("online"), true);
            if let Some(e) = ev.as_mut() {
                (e.report_id, e.due_at, e.online) = (report_id, due_at, online);
            }
        }
        Some(EventKind::Meeting) => {
            let meeting_id = c.id(f!("meeting_id"));
            let mode = c.choice(f!("mode"), true, "video, in_person, hybrid", |s| match s {
                "video" => Some(MeetingMode::Video),
                "in_person" => Some(MeetingMode::InPerson),
                "hybrid" => Some(MeetingMode::Hybrid),
                _ => None,
            });
            let minutes = c
                .integer(f!("minutes"), false, 0, 24 * 60)
                .map(|m| m as u32);
            if let Some(e) = ev.as_mut() {
                (e.meeting_id, e.mode, e.minutes) = (meeting_id, mode, minutes);
            }
        }
        None => {}
    }
    match ev {
        Some(ev) if c.errors.is_empty() => Ok(ev),
        _ => Err(c.errors),
    }
}

fn dossier<R: Record + ?Sized>(
    c: &mut Ctx<'_, R>,
    ev: Option<&mut Event>,
    occurred_at: Option<DateTime<FixedOffset>>,
) {
    use DossierStatus as S;
    let dossier_id = c.id(f!("dossier_id"));
    let status = c.choice(
        f!("status"),
        true,
        "submitted, accepted, refused, processing, supplement_requested, payment_requested, withdrawn, stopped, resolved, returned, supplement_received, paid, rated",
        DossierStatus::parse,
    );
    let procedure_code = c.string(f!("procedure_code"), true);
    if let Some(p) = &procedure_code
        && !is_procedure_code(p)
    {
        if has_control(p) {
            c.no_control(f!("procedure_code"));
        } else {
            c.fail_at(
                f!("procedure_code"),
                "format",
                format!("procedure_code must look like 1.001757, not {p:?}"),
            );
        }
    }
    let accepted = status == Some(S::Accepted);
    let channel = c.choice(
        f!("channel"),
        accepted,
        "counter, online, postal",
        Channel::parse,
    );
    // Optional on supplement_received too: without it the engine moves
    // the due date in force by the working time the supplement took.
    let due_at = c.time(f!("due_at"), false);
    // An accepted dossier without a due date gets the legal one: the
    // procedure's handling time in working days from acceptance, on the
    // working-time calendar. A procedure the catalogue does not know has no
    // legal time limit here, so the sender must give it.
    let due_at = match (accepted, due_at, c.present(f!("due_at"))) {
        (true, None, None) => match (&procedure_code, occurred_at) {
            (Some(p), Some(at)) => {
                let due = legal_due(p, at);
                if due.is_none() {
                    c.fail_at(
                        f!("due_at"),
                        "required",
                        format!(
                            "due_at is required: procedure {p:?} is not in the catalogue, so its legal time limit is unknown"
                        ),
                    );
                }
                due
            }
            _ => None,
        },
        (_, due, _) => due,
    };
    if let (Some(due), Some(at)) = (due_at, occurred_at)
        && due < at
    {
        c.fail_at(
            f!("due_at"),
            "after_occurred_at",
            "due_at must not be earlier than occurred_at",
        );
    }
    let reused_data = c.boolean(f!("reused_data"), false);
    let from_citizen_store = c.boolean(f!("from_citizen_store"), false);
    let digitized = c.boolean(f!("digitized"), false);
    let e_result = c.boolean(f!("e_result"), false);
    let paid = status == Some(S::Paid);
    let amount = c.integer(f!("amount"), paid, 0, MAX_AMOUNT);
    let online = c.boolean(f!("online"), paid);
    let rating = c
        .integer(
            f!("rating"),
            status == Some(S::Rated),
            *RATINGS.start(),
            *RATINGS.end(),
        )
        .map(|r| r as u8);
    if let Some(e) = ev {
        e.dossier_id = dossier_id;
        e.status = status;
        e.procedure_code = procedure_code;
        e.channel = channel;
        e.due_at = due_at;
        e.reused_data = reused_data;
        e.from_citizen_store = from_citizen_store;
        e.digitized = digitized;
        e.e_result = e_result;
        e.amount = amount;
        e.online = online;
        e.rating = rating;
    }
}

/// A record whose fields come typed, as Arrow columns of the contract's
/// types do: a text field is text, a flag a boolean, a count an integer.
/// Reading one is a plain load, with no type to check.
pub trait TypedRecord {
    /// Text field `field`; `None` when absent or null.
    fn text(&self, field: Field) -> Option<&str>;
    /// Boolean field `field`; `None` when absent or null.
    fn flag(&self, field: Field) -> Option<bool>;
    /// Integer field `field`; `None` when absent or null.
    fn int(&self, field: Field) -> Option<i64>;
    /// Time field `field` when its column holds instants (a TIMESTAMP):
    /// `Some(None)` for one past what a date can hold; `None` when absent,
    /// null, or given as text ([`Self::text`]).
    fn instant(&self, field: Field) -> Option<Option<DateTime<FixedOffset>>>;
}

/// `t` and its local year. Out of line: the date arithmetic would
/// otherwise be inlined into [`accept_dossier`]'s reading of every time,
/// where the text of a time, read by [`parse_time_and_year`], is the
/// common case.
#[inline(never)]
fn with_year(t: DateTime<FixedOffset>) -> (DateTime<FixedOffset>, i32) {
    (t, t.year())
}

/// [`validate_record`] for the commonest record, a dossier event that
/// breaks no rule, read straight from typed fields: `Some` only for a
/// record that [`validate_record`] accepts, and then the very event it
/// builds. `None` for anything else (another kind, a broken rule), which
/// the caller hands to [`validate_record`] to word the errors. The caller
/// makes sure the record has no field outside the contract.
///
/// The rules are those of [`validate_record`] and [`dossier`], checked in
/// one pass without collecting errors; a test holds the two to the same
/// verdict on every record.
#[inline]
pub fn accept_dossier<R: TypedRecord>(
    rec: &R,
    units: &UnitRegistry,
    checks: Checks,
) -> Option<Event> {
    use DossierStatus as S;
    if rec.text(f!("kind"))? != "dossier" {
        return None;
    }
    let id = |field| {
        rec.text(field)
            .filter(|s| !s.is_empty() && s.len() <= MAX_ID_LEN && !has_control(s))
    };
    let time = |field| match parse_time_and_year(rec.text(field)?) {
        Ok((t, year)) if YEARS.contains(&year) => Some(t),
        _ => None,
    };
    // A time from a TIMESTAMP column; a field's column holds text or
    // instants, never both, so this is asked only when `time` finds none.
    let instant = |field| {
        let (t, year) = with_year(rec.instant(field)??);
        YEARS.contains(&year).then_some(t)
    };
    let event_id = id(f!("event_id"))?;
    let at = time(f!("occurred_at")).or_else(|| instant(f!("occurred_at")))?;
    if checks.not_after.is_some_and(|limit| at > limit) {
        return None;
    }
    let unit = UnitCode::parse(rec.text(f!("unit"))?).ok()?;
    units.index_of(&unit)?;
    let dossier_id = id(f!("dossier_id"))?;
    let status = DossierStatus::parse(rec.text(f!("status"))?)?;
    // Eight bytes, so never empty.
    let procedure = rec
        .text(f!("procedure_code"))
        .filter(|p| is_procedure_code(p))?;
    let accepted = status == S::Accepted;
    let channel = match rec.text(f!("channel")) {
        Some(s) => Some(Channel::parse(s)?),
        None if accepted => return None,
        None => None,
    };
    let given = rec.text(f!("due_at")).is_some() || rec.instant(f!("due_at")).is_some();
    let due_at = match given {
        true => Some(time(f!("due_at")).or_else(|| instant(f!("due_at")))?),
        false if accepted => Some(legal_due(procedure, at)?),
        false => None,
    };
    if due_at.is_some_and(|due| due < at) {
        return None;
    }
    let paid = status == S::Paid;
    let amount = rec.int(f!("amount"));
    let online = rec.flag(f!("online"));
    if amount.is_some_and(|a| !(0..=MAX_AMOUNT).contains(&a))
        || (paid && (amount.is_none() || online.is_none()))
    {
        return None;
    }
    let rating = match rec.int(f!("rating")) {
        Some(r) if RATINGS.contains(&r) => Some(r as u8),
        Some(_) => return None,
        None if status == S::Rated => return None,
        None => None,
    };
    let mut e = Event::new(event_id, EventKind::Dossier, at, unit);
    e.dossier_id = Some(Id::from(dossier_id));
    e.status = Some(status);
    e.procedure_code = Some(Id::from(procedure));
    e.channel = channel;
    e.due_at = due_at;
    e.reused_data = rec.flag(f!("reused_data"));
    e.from_citizen_store = rec.flag(f!("from_citizen_store"));
    e.digitized = rec.flag(f!("digitized"));
    e.e_result = rec.flag(f!("e_result"));
    e.amount = amount;
    e.online = online;
    e.rating = rating;
    Some(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg() -> UnitRegistry {
        UnitRegistry::embedded().unwrap()
    }

    fn accepted() -> Value {
        json!({"event_id":"e1","kind":"dossier","occurred_at":"2025-11-20T08:00:00+07:00","unit":"00070",
               "dossier_id":"D1","status":"accepted","procedure_code":"1.001757","channel":"online",
               "due_at":"2025-11-25T17:00:00+07:00"})
    }

    fn rules(v: Value) -> Vec<(String, String)> {
        validate(&v, &reg(), Checks::default())
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.rule))
            .collect()
    }

    #[test]
    fn times_read_as_chrono_reads_them() {
        let cases = [
            "2025-11-20T08:15:00+07:00",
            "2025-11-20T08:15:00Z",
            "2025-11-20T08:15:00-03:30",
            "2025-11-20T08:15:00-00:00",
            "2024-02-29T23:59:59+14:00",
            "2025-01-01T00:00:00+07:00",
            "2000-01-01T00:00:00+00:00",
            "2025-11-20T08:15:00.250+07:00",
            "2025-11-20 08:15:00+07:00",
            "2025-11-20t08:15:00z",
            "2016-12-31T23:59:60Z",
            "2025-02-29T08:00:00+07:00",
            "2025-13-01T08:00:00+07:00",
            "2025-11-20T24:00:00+07:00",
            "2025-11-20T08:60:00+07:00",
            "2025-11-20T08:15:00+24:00",
            "2025-11-20T08:15:00+07:60",
            "2025-11-20T08:15:00+0700",
            "2025-11-20T08:15:00",
            "2025-1-20T08:15:00+07:00",
            "+2025-11-20T08:15:00+07:00",
            "2025-11-20T08:15:00+07:00 ",
            "２025-11-20T08:15:00+07:00",
            "",
            // The same day at other offsets, one after the other (the last
            // days read are remembered by date and offset), and dates that
            // do not exist between real ones.
            "2025-02-28T08:00:00+07:00",
            "2025-02-29T08:00:00+07:00",
            "2025-02-28T09:00:00+07:00",
            "2025-02-29T09:00:00+07:00",
            "2025-03-01T08:00:00+07:00",
            "2025-02-28T10:00:00+07:00",
            "2025-02-28T10:00:00Z",
        ];
        for c in cases {
            let want = DateTime::parse_from_rfc3339(c);
            let got = parse_time(c);
            assert_eq!(got.is_ok(), want.is_ok(), "{c:?}");
            if let (Ok(g), Ok(w)) = (got, want) {
                assert_eq!((g, g.offset()), (w, w.offset()), "{c:?}");
            }
        }
        // Real times of one day at several offsets, in turn.
        for c in [
            "2025-11-20T23:30:00+07:00",
            "2025-11-20T23:30:00-07:00",
            "2025-11-20T23:30:00Z",
            "2025-11-20T00:00:00+14:00",
            "2025-11-20T23:59:59-12:00",
            "2025-11-20T23:59:59+07:00",
        ] {
            let want = DateTime::parse_from_rfc3339(c).unwrap();
            let got = parse_time(c).unwrap();
            assert_eq!((got, got.offset()), (want, want.offset()), "{c:?}");
        }
        // Every hour of a leap year, in three offsets.
        let start = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap();
        for h in (0..366 * 24).step_by(7) {
            for off in [7 * 3600, 0, -(5 * 3600 + 30 * 60)] {
                let t =
                    (start + chrono::TimeDelta::hours(h) + chrono::TimeDelta::seconds(h * 13 % 60))
                        .with_timezone(&FixedOffset::east_opt(off).unwrap());
                let text = t.to_rfc3339();
                let got = parse_time(&text).unwrap();
                assert_eq!((got, got.offset()), (t, t.offset()), "{text}");
            }
        }
    }

    #[test]
    fn control_characters_are_found_by_a_byte_scan_as_by_their_category() {
        // Rust's `char::is_control` is the Unicode category Cc: exactly
        // U+0000-U+001F and U+007F-U+009F.
        for c in (0..0x3000u32).filter_map(char::from_u32) {
            for s in [
                format!("{c}"),
                format!("ab{c}"),
                format!("{c}é"),
                format!("Họp{c}x"),
            ] {
                assert_eq!(has_control(&s), s.chars().any(char::is_control), "{c:?}");
            }
        }
        // At every position of ids of every length, words and tails alike.
        for len in 0..20 {
            for at in 0..=len {
                for c in ['\u{1}', '\u{7f}', '\u{85}', 'x', '\u{a0}'] {
                    let mut s: String = "abcdefghijklmnopqrstu"[..len].into();
                    s.insert(at, c);
                    assert_eq!(has_control(&s), c.is_control(), "{s:?}");
                }
            }
        }
        let base = "BTC-000137045-Họp-giao-ban";
        for c in [
            '\u{0}', '\u{1f}', ' ', '\u{7f}', '\u{80}', '\u{9f}', '\u{a0}', 'Â', 'ư',
        ] {
            for at in base.char_indices().map(|(i, _)| i) {
                let s = format!("{}{c}{}", &base[..at], &base[at..]);
                assert_eq!(has_control(&s), c.is_control(), "{s:?}");
            }
        }
        assert!(!has_control("BTC-000137045 Họp giao ban\u{a0}"));
    }

    #[test]
    fn control_characters_in_ids_are_refused_as_their_format() {
        let document = json!({"event_id":"d1","kind":"document","occurred_at":"2025-11-20T08:00:00+07:00",
                              "unit":"79","doc_id":"VB1","direction":"issued","electronic":true,"signed":true});
        let report = json!({"event_id":"r1","kind":"report","occurred_at":"2025-11-20T08:00:00+07:00",
                            "unit":"79","report_id":"R1","due_at":"2025-11-21T08:00:00+07:00","online":true});
        let meeting = json!({"event_id":"m1","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00",
                             "unit":"BTC","meeting_id":"M1","mode":"video"});
        let cases = [
            (accepted(), "event_id"),
            (accepted(), "dossier_id"),
            (accepted(), "procedure_code"),
            (accepted(), "unit"),
            (document, "doc_id"),
            (report, "report_id"),
            (meeting, "meeting_id"),
        ];
        for (record, field) in cases {
            assert!(
                validate(&record, &reg(), Checks::default()).is_ok(),
                "{field}"
            );
            for c in [
                '\u{0}', '\t', '\n', '\u{1f}', '\u{7f}', '\u{80}', '\u{85}', '\u{9f}',
            ] {
                let mut v = record.clone();
                let old = v[field].as_str().unwrap().to_owned();
                // In the middle, and in place of a character, so that a
                // procedure code keeps its length.
                for bad in [
                    format!("{}{c}{}", &old[..1], &old[1..]),
                    format!("{}{c}", &old[..old.len() - 1]),
                ] {
                    v[field] = json!(bad);
                    let errors = validate(&v, &reg(), Checks::default()).unwrap_err();
                    assert_eq!(errors.len(), 1, "{field} {bad:?}: {errors:?}");
                    assert_eq!(
                        (errors[0].field.as_str(), errors[0].rule.as_str()),
                        (field, "format")
                    );
                    assert!(
                        errors[0].message.contains("control characters"),
                        "{}",
                        errors[0].message
                    );
                }
            }
            // Other characters outside ASCII are text like any other.
            if !["procedure_code", "unit"].contains(&field) {
                let mut v = record.clone();
                v[field] = json!("Hồ sơ\u{a0}số 1");
                assert!(validate(&v, &reg(), Checks::default()).is_ok(), "{field}");
            }
        }
    }

    #[test]
    fn a_complete_accepted_dossier_passes() {
        let ev = validate(&accepted(), &reg(), Checks::default()).unwrap();
        assert_eq!(ev.status, Some(DossierStatus::Accepted));
        assert_eq!(ev.channel, Some(Channel::Online));
    }

    #[test]
    fn every_broken_rule_is_named() {
        let mut v = accepted();
        v["unit"] = json!("99999");
        v["channel"] = json!("fax");
        v["procedure_code"] = json!("1757");
        v["chanel"] = json!("online");
        v.as_object_mut().unwrap().remove("due_at");
        let got = rules(v);
        for want in [
            ("unit", "unknown_unit"),
            ("channel", "enum"),
            ("procedure_code", "format"),
            ("chanel", "unknown_field"),
            ("due_at", "required"),
        ] {
            assert!(
                got.contains(&(want.0.into(), want.1.into())),
                "{want:?} missing from {got:?}"
            );
        }
    }

    #[test]
    fn without_a_due_date_the_legal_one_is_computed_in_working_time() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        let mut v = accepted();
        v.as_object_mut().unwrap().remove("due_at");
        // 1.000656 (death registration): one working day. Accepted Thursday
        // 08:00: 3.5 h to 11:30, 3.5 h 13:30-17:00, 1 h on Friday.
        v["procedure_code"] = json!("1.000656");
        let ev = validate(&v, &reg(), Checks::default()).unwrap();
        assert_eq!(ev.due_at, Some(at("2025-11-21T08:00:00+07:00")));
        // Accepted Friday 16:00 (sent in UTC): 1 h on Friday, the weekend
        // off, 7 h on Monday: 4.5 h 07:00-11:30, 2.5 h from 13:30.
        v["occurred_at"] = json!("2025-11-21T09:00:00Z");
        let ev = validate(&v, &reg(), Checks::default()).unwrap();
        assert_eq!(ev.due_at, Some(at("2025-11-24T16:00:00+07:00")));
        // A due date that is sent wins.
        let ev = validate(&accepted(), &reg(), Checks::default()).unwrap();
        assert_eq!(ev.due_at, Some(at("2025-11-25T17:00:00+07:00")));
        // A procedure the catalogue does not know needs one.
        v["procedure_code"] = json!("9.999999");
        assert_eq!(rules(v), vec![("due_at".into(), "required".into())]);
    }

    #[test]
    fn times_need_an_offset_and_a_plausible_year() {
        let mut v = accepted();
        v["occurred_at"] = json!("2025-11-20 08:00:00");
        assert_eq!(rules(v), vec![("occurred_at".into(), "format".into())]);
        let mut v = accepted();
        v["occurred_at"] = json!("1900-01-01T00:00:00Z");
        assert_eq!(rules(v), vec![("occurred_at".into(), "range".into())]);
    }

    #[test]
    fn future_events_are_refused_when_the_clock_is_checked() {
        let limit = DateTime::parse_from_rfc3339("2025-11-20T07:00:00+07:00").unwrap();
        let err = validate(
            &accepted(),
            &reg(),
            Checks {
                not_after: Some(limit),
            },
        )
        .unwrap_err();
        assert_eq!(err[0].rule, "not_in_future");
    }

    #[test]
    fn ratings_stay_within_one_to_five() {
        let v = json!({"event_id":"e2","kind":"dossier","occurred_at":"2025-11-20T08:00:00+07:00","unit":"01",
                       "dossier_id":"D1","status":"rated","procedure_code":"1.001757","rating":6});
        assert_eq!(rules(v), vec![("rating".into(), "range".into())]);
    }

    #[test]
    fn other_kinds_have_their_own_required_fields() {
        let v = json!({"event_id":"m1","kind":"meeting","occurred_at":"2025-11-20T08:00:00+07:00","unit":"BTC"});
        assert_eq!(
            rules(v),
            vec![
                ("meeting_id".into(), "required".into()),
                ("mode".into(), "required".into())
            ]
        );
        let v = json!({"event_id":"d1","kind":"document","occurred_at":"2025-11-20T08:00:00+07:00","unit":"79",
                       "doc_id":"VB1","direction":"issued","electronic":"yes","signed":true});
        assert_eq!(rules(v), vec![("electronic".into(), "type".into())]);
    }

    #[test]
    fn a_field_with_an_empty_name_is_named_as_two_quotes() {
        let mut v = accepted();
        v[""] = json!(1);
        assert_eq!(rules(v), vec![("\"\"".into(), "unknown_field".into())]);
    }

    #[test]
    fn a_non_object_is_refused_as_a_whole() {
        assert_eq!(rules(json!([1, 2])), vec![("$".into(), "type".into())]);
    }
}
