//! The event contract v1 (DESIGN.md, "Event contract").
//!
//! An [`Event`] is a record that already passed validation: its kind-specific
//! fields are present where the contract requires them. The struct is flat
//! (one optional field per contract column) because that is how it travels in
//! NDJSON, CSV and Parquet alike, and how it becomes Arrow columns.

use crate::unit::UnitCode;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Dossier,
    Document,
    Report,
    Meeting,
}

/// Dossier statuses: the national `TrangThaiHoSo` codes 1–10 plus the three
/// lifecycle events the contract adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DossierStatus {
    Submitted,
    Accepted,
    Refused,
    Processing,
    SupplementRequested,
    PaymentRequested,
    Withdrawn,
    Stopped,
    Resolved,
    Returned,
    SupplementReceived,
    Paid,
    Rated,
}

impl DossierStatus {
    pub const ALL: [DossierStatus; 13] = [
        Self::Submitted,
        Self::Accepted,
        Self::Refused,
        Self::Processing,
        Self::SupplementRequested,
        Self::PaymentRequested,
        Self::Withdrawn,
        Self::Stopped,
        Self::Resolved,
        Self::Returned,
        Self::SupplementReceived,
        Self::Paid,
        Self::Rated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Processing => "processing",
            Self::SupplementRequested => "supplement_requested",
            Self::PaymentRequested => "payment_requested",
            Self::Withdrawn => "withdrawn",
            Self::Stopped => "stopped",
            Self::Resolved => "resolved",
            Self::Returned => "returned",
            Self::SupplementReceived => "supplement_received",
            Self::Paid => "paid",
            Self::Rated => "rated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The national `TrangThaiHoSo` code, where the status has one.
    pub fn national_code(self) -> Option<u8> {
        Self::ALL[..10]
            .iter()
            .position(|&s| s == self)
            .map(|i| i as u8 + 1)
    }
}

/// How a dossier reached the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Counter,
    Online,
    Postal,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Online => "online",
            Self::Postal => "postal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Counter, Self::Online, Self::Postal]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

/// Whether a document left or reached the unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocDirection {
    Issued,
    Received,
}

/// How a meeting was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingMode {
    Video,
    InPerson,
    Hybrid,
}

/// An identifier in an event (event, dossier, procedure, document, report,
/// meeting). Those of the contract are short, and up to 24 bytes are kept
/// inline: decoding an event allocates nothing for its identifiers.
pub type Id = compact_str::CompactString;

/// One validated event. Optional fields are those that the contract only
/// requires for some kinds or statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: Id,
    pub kind: EventKind,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub occurred_at: DateTime<FixedOffset>,
    pub unit: UnitCode,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DossierStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure_code: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::serialize_opt"
    )]
    pub due_at: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_data: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_citizen_store: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digitized: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_result: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<DocDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<bool>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<Id>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<Id>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MeetingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

impl Event {
    /// A bare event of `kind`; callers fill the kind-specific fields.
    pub fn new(
        event_id: impl Into<Id>,
        kind: EventKind,
        occurred_at: DateTime<FixedOffset>,
        unit: UnitCode,
    ) -> Self {
        Self {
            event_id: event_id.into(),
            kind,
            occurred_at,
            unit,
            dossier_id: None,
            status: None,
            procedure_code: None,
            channel: None,
            due_at: None,
            reused_data: None,
            from_citizen_store: None,
            digitized: None,
            e_result: None,
            amount: None,
            online: None,
            rating: None,
            doc_id: None,
            direction: None,
            electronic: None,
            signed: None,
            report_id: None,
            meeting_id: None,
            mode: None,
            minutes: None,
        }
    }
}

/// Event times written exactly as chrono's serde writes them (RFC 3339,
/// fractional seconds only as precise as needed, `Z` for UTC), without
/// going through `fmt` one character at a time: every event the log
/// appends carries one or two of them.
mod rfc3339 {
    use chrono::{DateTime, Datelike, FixedOffset, Timelike};
    use serde::{Serialize, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 35];
        match format(t, &mut buf) {
            Some(n) => {
                s.serialize_str(std::str::from_utf8(&buf[..n]).map_err(serde::ser::Error::custom)?)
            }
            // Years beyond 0..=9999, leap seconds, offsets with seconds.
            None => t.serialize(s),
        }
    }

    pub fn serialize_opt<S: Serializer>(
        t: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => serialize(t, s),
            None => s.serialize_none(),
        }
    }

    /// `t` through [`serialize`], for tests.
    #[cfg(test)]
    pub(super) struct Ser<'a>(pub &'a DateTime<FixedOffset>);

    #[cfg(test)]
    impl Serialize for Ser<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            serialize(self.0, s)
        }
    }

    /// Write `t` into `buf`; `None` for the rare cases left to chrono.
    pub(super) fn format(t: &DateTime<FixedOffset>, buf: &mut [u8; 35]) -> Option<usize> {
        let local = t.naive_local();
        let (year, nano) = (local.year(), local.nanosecond());
        let offset = t.offset().local_minus_utc();
        if !(0..=9999).contains(&year) || nano >= 1_000_000_000 || offset % 60 != 0 {
            return None;
        }
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            buf[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        };
        let two = |v: u32| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        put(&two(year as u32 / 100));
        put(&two(year as u32 % 100));
        put(b"-");
        put(&two(local.month()));
        put(b"-");
        put(&two(local.day()));
        put(b"T");
        put(&two(local.hour()));
        put(b":");
        put(&two(local.minute()));
        put(b":");
        put(&two(local.second()));
        if nano != 0 {
            let (digits, mut v) = if nano % 1_000_000 == 0 {
                (3, nano / 1_000_000)
            } else if nano % 1_000 == 0 {
                (6, nano / 1_000)
            } else {
                (9, nano)
            };
            let mut frac = [b'.'; 10];
            for i in (1..=digits).rev() {
                frac[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            put(&frac[..=digits]);
        }
        if offset == 0 {
            put(b"Z");
        } else {
            let minutes = offset.unsigned_abs() / 60;
            put(if offset < 0 { b"-" } else { b"+" });
            put(&two(minutes / 60));
            put(b":");
            put(&two(minutes % 60));
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_exactly_as_chrono_writes_them() {
        use chrono::TimeZone;
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let nanos = [0, 5_000_000, 123_000, 1, 999_999_999, 120_000_000];
        let offsets = [
            0,
            7 * 3600,
            -3 * 3600 - 1800,
            5 * 3600 + 2700,
            14 * 3600,
            -12 * 3600,
        ];
        for i in 0..5_000 {
            let secs = (next() % 253_402_300_799) as i64; // 0000..9999 from 1970 onward
            let secs = if i % 2 == 0 {
                secs - 62_167_219_200
            } else {
                secs
            };
            let nano = nanos[i % nanos.len()];
            let offset = FixedOffset::east_opt(offsets[(next() % 6) as usize]).unwrap();
            let Some(t) = offset.timestamp_opt(secs, nano).single() else {
                continue;
            };
            let ours = serde_json::to_string(&rfc3339::Ser(&t)).unwrap();
            let chrono = serde_json::to_string(&t).unwrap();
            assert_eq!(ours, chrono, "{t:?}");
        }
        // The cases left to chrono still come out as chrono writes them.
        let odd = FixedOffset::east_opt(3600 + 30).unwrap();
        let t = odd.timestamp_opt(1_700_000_000, 0).unwrap();
        assert_eq!(
            serde_json::to_string(&rfc3339::Ser(&t)).unwrap(),
            serde_json::to_string(&t).unwrap()
        );
        let mut buf = [0u8; 35];
        assert_eq!(rfc3339::format(&t, &mut buf), None);
    }

    #[test]
    fn status_codes_follow_trang_thai_ho_so() {
        assert_eq!(DossierStatus::Submitted.national_code(), Some(1));
        assert_eq!(DossierStatus::Resolved.national_code(), Some(9));
        assert_eq!(DossierStatus::Returned.national_code(), Some(10));
        assert_eq!(DossierStatus::Paid.national_code(), None);
        for s in DossierStatus::ALL {
            assert_eq!(DossierStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn serialises_only_present_fields() {
        let at = DateTime::parse_from_rfc3339("2025-11-03T08:15:00+07:00").unwrap();
        let mut e = Event::new(
            "e1",
            EventKind::Dossier,
            at,
            UnitCode::parse("00070").unwrap(),
        );
        e.status = Some(DossierStatus::Accepted);
        e.channel = Some(Channel::Online);
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"event_id":"e1","kind":"dossier","occurred_at":"2025-11-03T08:15:00+07:00","unit":"00070","status":"accepted","channel":"online"}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }
}
