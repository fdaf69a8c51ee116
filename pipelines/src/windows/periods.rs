//! Calendar periods cut in local time (Asia/Ho_Chi_Minh, UTC+7): hour, day,
//! ISO week (Monday first), month, quarter, year, and "all". Every period is
//! a union of whole local hours, so hourly partial sums merge into any of
//! them.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone};
use model::calendar::vn_offset;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
    All,
}

impl FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            "quarter" => Self::Quarter,
            "year" => Self::Year,
            "all" => Self::All,
            _ => {
                return Err(format!(
                    "unknown period {s:?}: use hour, day, week, month, quarter, year or all"
                ));
            }
        })
    }
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Quarter => "quarter",
            Self::Year => "year",
            Self::All => "all",
        }
    }

    /// Start of the period containing `t` (Unix seconds), as Unix seconds;
    /// `i64::MIN` for [`Period::All`].
    pub fn start(self, t: i64) -> i64 {
        let tz = vn_offset();
        let local = DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .with_timezone(&tz);
        let date = local.date_naive();
        let day = |d: NaiveDate| midnight(d, &tz);
        match self {
            Self::Hour => t.div_euclid(3600) * 3600,
            Self::Day => day(date),
            Self::Week => {
                day(date - Duration::days(i64::from(date.weekday().num_days_from_monday())))
            }
            Self::Month => day(date.with_day(1).unwrap_or(date)),
            Self::Quarter => {
                let m = (date.month0() / 3) * 3 + 1;
                day(NaiveDate::from_ymd_opt(date.year(), m, 1).unwrap_or(date))
            }
            Self::Year => day(NaiveDate::from_ymd_opt(date.year(), 1, 1).unwrap_or(date)),
            Self::All => i64::MIN,
        }
    }

    /// Start of the next period after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        let tz = vn_offset();
        let date = DateTime::from_timestamp(start, 0)
            .unwrap_or_default()
            .with_timezone(&tz)
            .date_naive();
        let add_months = |n: u32| {
            let total = date.year() * 12 + date.month0() as i32 + n as i32;
            let d =
                NaiveDate::from_ymd_opt(total.div_euclid(12), (total.rem_euclid(12) + 1) as u32, 1)
                    .unwrap_or(date);
            midnight(d, &tz)
        };
        match self {
            Self::Hour => start + 3600,
            Self::Day => start + 86_400,
            Self::Week => start + 7 * 86_400,
            Self::Month => add_months(1),
            Self::Quarter => add_months(3),
            Self::Year => add_months(12),
            Self::All => i64::MAX,
        }
    }

    /// The same instant one year earlier in local time (29 February falls
    /// back to the 28th), for the year-on-year comparisons.
    pub fn year_before(t: i64) -> i64 {
        let tz = vn_offset();
        let local = DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .with_timezone(&tz)
            .naive_local();
        let date = local.date();
        let earlier = date
            .with_year(date.year() - 1)
            .or_else(|| NaiveDate::from_ymd_opt(date.year() - 1, date.month(), 28))
            .unwrap_or(date);
        tz.from_local_datetime(&earlier.and_time(local.time()))
            .single()
            .map_or(t, |d| d.timestamp())
    }

    /// A readable label of the period starting at `start`, in local time.
    pub fn label(self, start: i64) -> String {
        if self == Self::All {
            return "all".into();
        }
        let local = DateTime::from_timestamp(start, 0)
            .unwrap_or_default()
            .with_timezone(&vn_offset());
        match self {
            Self::Hour => local.format("%Y-%m-%dT%H:00%:z").to_string(),
            Self::Day => local.format("%Y-%m-%d").to_string(),
            Self::Week => {
                let w = local.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Self::Month => local.format("%Y-%m").to_string(),
            Self::Quarter => format!("{}-Q{}", local.year(), local.month0() / 3 + 1),
            Self::Year => local.format("%Y").to_string(),
            Self::All => unreachable!("handled above"),
        }
    }
}

fn midnight(d: NaiveDate, tz: &FixedOffset) -> i64 {
    tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map_or(0, |t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_year_before_keeps_the_local_date_and_time() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp();
        assert_eq!(
            Period::year_before(t("2025-11-20T10:30:00+07:00")),
            t("2024-11-20T10:30:00+07:00")
        );
        assert_eq!(
            Period::year_before(t("2024-02-29T00:00:00+07:00")),
            t("2023-02-28T00:00:00+07:00")
        );
    }

    fn t(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn periods_are_cut_in_local_time() {
        // 2025-12-31T18:30Z is 01:30 on 1 January 2026 in Hà Nội.
        let x = t("2025-12-31T18:30:00Z");
        assert_eq!(Period::Day.label(Period::Day.start(x)), "2026-01-01");
        assert_eq!(Period::Year.label(Period::Year.start(x)), "2026");
        assert_eq!(Period::Quarter.label(Period::Quarter.start(x)), "2026-Q1");
        assert_eq!(
            Period::Hour.label(Period::Hour.start(x)),
            "2026-01-01T01:00+07:00"
        );
        // Thursday 20 Nov 2025: ISO week 47, which starts Monday 17 Nov.
        let y = t("2025-11-20T10:00:00+07:00");
        assert_eq!(Period::Week.start(y), t("2025-11-17T00:00:00+07:00"));
        assert_eq!(Period::Week.label(Period::Week.start(y)), "2025-W47");
        assert_eq!(
            Period::Month.next(Period::Month.start(y)),
            t("2025-12-01T00:00:00+07:00")
        );
        assert_eq!(
            Period::Quarter.next(Period::Quarter.start(y)),
            t("2026-01-01T00:00:00+07:00")
        );
        assert_eq!(
            Period::Year.next(Period::Year.start(y)),
            t("2026-01-01T00:00:00+07:00")
        );
    }

    #[test]
    fn every_period_is_a_union_of_hours() {
        let y = t("2025-11-20T10:37:00+07:00");
        for p in [
            Period::Day,
            Period::Week,
            Period::Month,
            Period::Quarter,
            Period::Year,
        ] {
            assert_eq!(p.start(y) % 3600, 0, "{p:?}");
            assert_eq!(p.next(p.start(y)) % 3600, 0, "{p:?}");
            assert!(p.start(y) <= y && y < p.next(p.start(y)));
        }
    }
}
