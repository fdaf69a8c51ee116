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

/// One validated event. Optional fields are those that the contract only
/// requires for some kinds or statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub kind: EventKind,
    pub occurred_at: DateTime<FixedOffset>,
    pub unit: UnitCode,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dossier_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DossierStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    pub doc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<DocDirection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub electronic: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<bool>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meeting_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<MeetingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minutes: Option<u32>,
}

impl Event {
    /// A bare event of `kind`; callers fill the kind-specific fields.
    pub fn new(
        event_id: impl Into<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
