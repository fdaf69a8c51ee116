//! The one-stop-shop working-time calendar (DESIGN.md, "Time"): working
//! sessions 07:00–11:30 and 13:30–17:00 local time (Asia/Ho_Chi_Minh,
//! UTC+7) on working days; weekends and public holidays are skipped, and
//! make-up working days (a Saturday worked in exchange for a bridge day)
//! count as working days. A working day is 8 hours.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike,
    Weekday,
};
use std::collections::BTreeSet;

/// Working sessions as (start, end) minutes after local midnight.
pub const SESSIONS: [(i64, i64); 2] = [(7 * 60, 11 * 60 + 30), (13 * 60 + 30, 17 * 60)];
/// Working minutes in one working day.
pub const DAY_MINUTES: i64 = 8 * 60;

/// Asia/Ho_Chi_Minh: UTC+7 all year, no daylight saving.
pub fn vn_offset() -> FixedOffset {
    FixedOffset::east_opt(7 * 3600).expect("UTC+7 is a valid offset")
}

/// Working days and hours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkCalendar {
    holidays: BTreeSet<NaiveDate>,
    makeup_days: BTreeSet<NaiveDate>,
    /// [`Self::is_working_day`] of every day from `first_day` (days from
    /// the Common Era) on, one bit a day, 2000 to 2100 and every listed
    /// day: the due-date arithmetic asks it for each day it walks, and
    /// the report for every dossier.
    first_day: i32,
    working: Vec<u64>,
}

impl WorkCalendar {
    pub fn new(
        holidays: impl IntoIterator<Item = NaiveDate>,
        makeup_days: impl IntoIterator<Item = NaiveDate>,
    ) -> Self {
        let mut cal = Self {
            holidays: holidays.into_iter().collect(),
            makeup_days: makeup_days.into_iter().collect(),
            first_day: 0,
            working: Vec::new(),
        };
        let (first, last) = (
            NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date"),
            NaiveDate::from_ymd_opt(2100, 12, 31).expect("a valid date"),
        );
        let listed = || cal.holidays.iter().chain(&cal.makeup_days).copied();
        let from = listed().min().map_or(first, |d| d.min(first));
        let to = listed().max().map_or(last, |d| d.max(last));
        // Whole words: the days past `to` in the last one are filled in too.
        let words = ((to - from).num_days() as usize + 1).div_ceil(64);
        let mut working = vec![0u64; words];
        for (i, day) in from.iter_days().take(words * 64).enumerate() {
            if cal.by_rule(day) {
                working[i / 64] |= 1 << (i % 64);
            }
        }
        cal.first_day = from.num_days_from_ce();
        cal.working = working;
        cal
    }

    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        let i = i64::from(d.num_days_from_ce()) - i64::from(self.first_day);
        match usize::try_from(i)
            .ok()
            .and_then(|i| Some((self.working.get(i / 64)?, i)))
        {
            Some((word, i)) => word >> (i % 64) & 1 == 1,
            None => self.by_rule(d),
        }
    }

    /// Whether `d` is a working day, from the lists and the weekday.
    fn by_rule(&self, d: NaiveDate) -> bool {
        if self.makeup_days.contains(&d) {
            return true;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&d)
    }

    pub fn is_holiday(&self, d: NaiveDate) -> bool {
        self.holidays.contains(&d)
    }

    /// The instant `minutes` working minutes after `start`, in UTC+7. A start
    /// outside working time counts from the next session's opening; an end
    /// that falls exactly on a session's close stays there.
    pub fn add_working_minutes(
        &self,
        start: DateTime<FixedOffset>,
        minutes: i64,
    ) -> DateTime<FixedOffset> {
        let tz = vn_offset();
        let mut t = start.with_timezone(&tz).naive_local();
        let mut left = minutes.max(0);
        loop {
            let day = t.date();
            if !self.is_working_day(day) {
                t = next_day_open(day);
                continue;
            }
            let m = minute_of_day(t);
            let Some(&(open, close)) = SESSIONS.iter().find(|(_, close)| m < *close) else {
                t = next_day_open(day);
                continue;
            };
            let from = m.max(open);
            let room = close - from;
            let at = day.and_time(NaiveTime::MIN) + Duration::minutes(from);
            let at = if from == m { t } else { at };
            if left <= room {
                let end = at + Duration::minutes(left);
                return end
                    .and_local_timezone(tz)
                    .single()
                    .unwrap_or_else(|| start.with_timezone(&tz));
            }
            left -= room;
            t = day.and_time(NaiveTime::MIN) + Duration::minutes(close);
        }
    }

    /// The instant `minutes` working minutes before `end` (the inverse of
    /// [`Self::add_working_minutes`]); an end outside working time counts
    /// back from the previous session's close.
    pub fn sub_working_minutes(
        &self,
        end: DateTime<FixedOffset>,
        minutes: i64,
    ) -> DateTime<FixedOffset> {
        let tz = vn_offset();
        let mut t = end.with_timezone(&tz).naive_local();
        let mut left = minutes.max(0);
        loop {
            let day = t.date();
            if !self.is_working_day(day) {
                t = prev_day_close(day);
                continue;
            }
            let m = minute_of_day(t);
            let exact = t.time().second() == 0 && t.time().nanosecond() == 0;
            // The last session that started before t (or at t's minute with seconds).
            let Some(&(open, close)) = SESSIONS
                .iter()
                .rev()
                .find(|(open, _)| m > *open || (m == *open && !exact))
            else {
                t = prev_day_close(day);
                continue;
            };
            let at = if m < close {
                t
            } else {
                day.and_time(NaiveTime::MIN) + Duration::minutes(close)
            };
            let opened = day.and_time(NaiveTime::MIN) + Duration::minutes(open);
            let room = (at - opened).num_seconds();
            if left * 60 <= room {
                let start = at - Duration::minutes(left);
                return start
                    .and_local_timezone(tz)
                    .single()
                    .unwrap_or_else(|| end.with_timezone(&tz));
            }
            left -= room.div_euclid(60);
            // Any leftover seconds of a partial minute are dropped with the
            // truncation above; sessions open on whole minutes.
            t = opened;
            if left == 0 {
                return t
                    .and_local_timezone(tz)
                    .single()
                    .unwrap_or_else(|| end.with_timezone(&tz));
            }
        }
    }

    /// `days` working days after `start` (8 working hours a day).
    pub fn add_working_days(
        &self,
        start: DateTime<FixedOffset>,
        days: i64,
    ) -> DateTime<FixedOffset> {
        self.add_working_minutes(start, days * DAY_MINUTES)
    }

    /// Working minutes from `a` to `b` (negative when `b` is before `a`).
    pub fn working_minutes_between(
        &self,
        a: DateTime<FixedOffset>,
        b: DateTime<FixedOffset>,
    ) -> i64 {
        if b < a {
            return -self.working_minutes_between(b, a);
        }
        let tz = vn_offset();
        let (a, b) = (
            a.with_timezone(&tz).naive_local(),
            b.with_timezone(&tz).naive_local(),
        );
        let mut total = 0;
        let mut day = a.date();
        while day <= b.date() {
            if self.is_working_day(day) {
                let lo = if day == a.date() { minute_of_day(a) } else { 0 };
                let hi = if day == b.date() {
                    minute_of_day(b)
                } else {
                    24 * 60
                };
                for (open, close) in SESSIONS {
                    total += (hi.min(close) - lo.max(open)).max(0);
                }
            }
            day = day.succ_opt().unwrap_or(day);
            if day == NaiveDate::MAX {
                break;
            }
        }
        total
    }
}

fn minute_of_day(t: NaiveDateTime) -> i64 {
    i64::from(t.time().num_seconds_from_midnight()) / 60
}

fn prev_day_close(day: NaiveDate) -> NaiveDateTime {
    let prev = day.pred_opt().unwrap_or(day);
    prev.and_time(NaiveTime::MIN) + Duration::minutes(SESSIONS[SESSIONS.len() - 1].1)
}

fn next_day_open(day: NaiveDate) -> NaiveDateTime {
    let next = day.succ_opt().unwrap_or(day);
    next.and_time(NaiveTime::MIN) + Duration::minutes(SESSIONS[0].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// 2025: 30 Apr (Wed) and 1 May (Thu) off, 2 May (Fri) bridged, made up
    /// on Saturday 26 Apr; National Day 1–2 Sep (Mon, Tue).
    fn cal() -> WorkCalendar {
        WorkCalendar::new(
            [
                d("2025-04-30"),
                d("2025-05-01"),
                d("2025-05-02"),
                d("2025-09-01"),
                d("2025-09-02"),
            ],
            [d("2025-04-26")],
        )
    }

    #[test]
    fn the_day_table_agrees_with_the_lists_and_weekdays() {
        let c = cal();
        let mut day = d("1999-12-25");
        while day <= d("2101-01-10") {
            assert_eq!(c.is_working_day(day), c.by_rule(day), "{day}");
            day = day.succ_opt().unwrap();
        }
        // Far outside the table: the rule itself.
        assert!(c.is_working_day(d("1900-01-01")));
        assert!(!c.is_working_day(d("2500-01-02")));
        assert!(!WorkCalendar::default().is_working_day(d("2025-11-22")));
        assert!(WorkCalendar::default().is_working_day(d("2025-11-21")));
    }

    #[test]
    fn within_one_session() {
        assert_eq!(
            cal().add_working_minutes(t("2025-11-20T08:00:00+07:00"), 90),
            t("2025-11-20T09:30:00+07:00")
        );
    }

    #[test]
    fn the_lunch_break_does_not_count() {
        // 10:30 + 2 h = 11:30 (1 h) then 13:30 + 1 h = 14:30.
        assert_eq!(
            cal().add_working_minutes(t("2025-11-20T10:30:00+07:00"), 120),
            t("2025-11-20T14:30:00+07:00")
        );
        // Accepted during lunch: the clock starts at 13:30.
        assert_eq!(
            cal().add_working_minutes(t("2025-11-20T12:15:00+07:00"), 30),
            t("2025-11-20T14:00:00+07:00")
        );
        // Ending exactly at the close of the morning session stays there.
        assert_eq!(
            cal().add_working_minutes(t("2025-11-20T11:00:00+07:00"), 30),
            t("2025-11-20T11:30:00+07:00")
        );
    }

    #[test]
    fn evenings_and_weekends_are_skipped() {
        // Friday 16:00 + 2 h: 1 h on Friday, 1 h on Monday from 07:00.
        assert_eq!(
            cal().add_working_minutes(t("2025-11-21T16:00:00+07:00"), 120),
            t("2025-11-24T08:00:00+07:00")
        );
        // Saturday submission, 1 working day: Monday 07:00 → Monday 17:00.
        assert_eq!(
            cal().add_working_days(t("2025-11-22T09:00:00+07:00"), 1),
            t("2025-11-24T17:00:00+07:00")
        );
        // Times in another offset are read in local time: 01:00Z is 08:00 local.
        assert_eq!(
            cal().add_working_minutes(t("2025-11-20T01:00:00Z"), 60),
            t("2025-11-20T09:00:00+07:00")
        );
    }

    #[test]
    fn holidays_are_skipped_and_makeup_saturdays_count() {
        // Tue 29 Apr 2025 10:00 + 3 working days: Tue 29 Apr 10:00 → the
        // 30 Apr–2 May break is skipped → Mon 5, Tue 6, Wed 7 May… 3 days of
        // 8 h from Tue 10:00 end on Mon 5 May... counted by hand:
        // Tue 29 Apr: 10:00–11:30 (1.5 h) + 13:30–17:00 (3.5 h) = 5 h
        // Mon 5 May: 8 h (13 h), Tue 6 May: 8 h (21 h), Wed 7 May: 3 h more
        // → 07:00 + 3 h = 10:00 on Wed 7 May.
        assert_eq!(
            cal().add_working_days(t("2025-04-29T10:00:00+07:00"), 3),
            t("2025-05-07T10:00:00+07:00")
        );
        // Friday 25 Apr 16:00 + 2 h: the make-up Saturday 26 Apr is worked.
        assert_eq!(
            cal().add_working_minutes(t("2025-04-25T16:00:00+07:00"), 120),
            t("2025-04-26T08:00:00+07:00")
        );
        // National Day: Friday 29 Aug 2025 + 1 working day → Wednesday 3 Sep.
        assert_eq!(
            cal().add_working_days(t("2025-08-29T17:00:00+07:00"), 1),
            t("2025-09-03T17:00:00+07:00")
        );
    }

    #[test]
    fn subtracting_inverts_adding() {
        let c = cal();
        // Monday 08:00 minus one working day: Friday 08:00.
        assert_eq!(
            c.sub_working_minutes(t("2025-11-24T08:00:00+07:00"), 480),
            t("2025-11-21T08:00:00+07:00")
        );
        // 14:00 minus 1 h: 13:30 then back across lunch to 11:00.
        assert_eq!(
            c.sub_working_minutes(t("2025-11-20T14:00:00+07:00"), 60),
            t("2025-11-20T11:00:00+07:00")
        );
        for start in [
            "2025-04-24T09:17:00+07:00",
            "2025-11-20T13:30:00+07:00",
            "2025-11-21T16:59:00+07:00",
        ] {
            let start = t(start);
            for minutes in [1, 59, 133, 480, 481, 2400, 9999] {
                let end = c.add_working_minutes(start, minutes);
                assert_eq!(
                    c.sub_working_minutes(end, minutes),
                    start,
                    "{minutes} from {start}"
                );
            }
        }
    }

    #[test]
    fn minutes_between_inverts_adding() {
        let c = cal();
        let start = t("2025-04-24T09:17:00+07:00");
        for minutes in [0, 1, 133, 480, 481, 2400, 9999] {
            let end = c.add_working_minutes(start, minutes);
            assert_eq!(
                c.working_minutes_between(start, end),
                minutes,
                "{minutes} from {start}"
            );
        }
        assert_eq!(
            c.working_minutes_between(
                t("2025-11-22T08:00:00+07:00"),
                t("2025-11-23T18:00:00+07:00")
            ),
            0
        );
        assert_eq!(
            c.working_minutes_between(
                t("2025-11-20T17:00:00+07:00"),
                t("2025-11-20T08:00:00+07:00")
            ),
            -(3 * 60 + 30 + 3 * 60 + 30)
        );
    }
}
