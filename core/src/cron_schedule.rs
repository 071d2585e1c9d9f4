//! A CronJob's schedule: standard cron syntax (five fields, or `@hourly`,
//! `@daily`…), read on the wall clock of a time zone (the CronJob's
//! `timeZone`, UTC without one, as a controller manager running in UTC
//! does). Matching is `croner`'s, with Vixie cron's rule that a day matches
//! if either the day of the month or the day of the week does when both
//! are restricted. Zones come from the IANA database compiled into the
//! binary, so the answers are the same on every machine and in the browser.
//!
//! On a daylight saving change, a wall-clock time that does not exist (in
//! the hour skipped in spring) fires when the clock jumps over it, as
//! Vixie cron does; one that happens twice (in the hour repeated in autumn)
//! fires at its first occurrence.

use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use jiff::tz::TimeZone;
use k8s_openapi::jiff::Timestamp;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("{0}")]
    Unparseable(String),
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
    #[error("timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones")]
    LocalTimeZone,
    #[error("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")]
    TimeZoneInSchedule,
}

#[derive(Clone, Debug)]
pub struct Schedule {
    cron: Cron,
    zone: TimeZone,
}

/// The time zone a CronJob's `timeZone` names; UTC when it names none.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, ScheduleError> {
    match name {
        None => Ok(TimeZone::UTC),
        Some(name) if name.eq_ignore_ascii_case("local") => Err(ScheduleError::LocalTimeZone),
        Some(name) => jiff::tz::db().get(name).map_err(|_| ScheduleError::UnknownTimeZone(name.to_string())),
    }
}

impl Schedule {
    pub fn parse(schedule: &str, time_zone_name: Option<&str>) -> Result<Schedule, ScheduleError> {
        if schedule.contains("TZ") {
            return Err(ScheduleError::TimeZoneInSchedule);
        }
        let zone = time_zone(time_zone_name)?;
        let fields = schedule.split_whitespace().count();
        if !schedule.trim_start().starts_with('@') && fields != 5 {
            return Err(ScheduleError::Unparseable(format!("expected exactly 5 fields, found {fields}: {schedule}")));
        }
        let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
        let cron = parser.parse(schedule).map_err(|e| ScheduleError::Unparseable(e.to_string()))?;
        Ok(Schedule { cron, zone })
    }

    /// The first time the schedule fires strictly after `after`, if it ever does.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let zoned = jiff::Zoned::new(after, self.zone.clone());
        self.cron.find_next_occurrence(&zoned, false).ok().map(|z| z.timestamp())
    }

    /// `at` on this schedule's wall clock, as RFC 3339 with its offset
    /// (how the scheduled-timestamp annotation is written).
    pub fn wall_clock(&self, at: Timestamp) -> String {
        jiff::Zoned::new(at, self.zone.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string().replace("+00:00", "Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn fires_on_the_wall_clock_of_its_zone() {
        // (schedule, zone, after, next)
        let cases = [
            ("*/30 * * * *", None, "2027-01-15T08:10:00Z", "2027-01-15T08:30:00Z"),
            ("@hourly", None, "2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z"),
            ("@daily", Some("Europe/Paris"), "2027-01-15T08:00:00Z", "2027-01-15T23:00:00Z"),
            ("0 9 * * MON-FRI", Some("America/New_York"), "2027-01-15T15:00:00Z", "2027-01-18T14:00:00Z"),
            // Day of month OR day of week, as Vixie cron: the 1st, or any Sunday.
            ("0 0 1 * SUN", None, "2027-01-15T08:00:00Z", "2027-01-17T00:00:00Z"),
            // 02:30 does not exist in Paris on 2027-03-28: it fires as the clock jumps to 03:00.
            ("30 2 * * *", Some("Europe/Paris"), "2027-03-27T02:00:00Z", "2027-03-28T01:00:00Z"),
            ("30 2 * * *", Some("Europe/Paris"), "2027-03-28T01:00:00Z", "2027-03-29T00:30:00Z"),
        ];
        for (schedule, zone, after, next) in cases {
            let parsed = Schedule::parse(schedule, zone).unwrap();
            assert_eq!(parsed.next_after(at(after)), Some(at(next)), "{schedule} in {zone:?}");
        }
    }

    #[test]
    fn refuses_what_is_not_a_standard_schedule() {
        let cases = [
            ("* * * *", None, "expected exactly 5 fields"),
            ("0 0 * * * *", None, "expected exactly 5 fields"),
            ("61 * * * *", None, ""),
            ("TZ=UTC 0 * * * *", None, "cannot use TZ or CRON_TZ in schedule"),
            ("0 * * * *", Some("Mars/Olympus"), "unknown time zone Mars/Olympus"),
            ("0 * * * *", Some("Local"), "timeZone must be an explicit time zone"),
        ];
        for (schedule, zone, message) in cases {
            let error = Schedule::parse(schedule, zone).unwrap_err().to_string();
            assert!(error.contains(message), "{schedule}: {error}");
        }
        assert_eq!(Schedule::parse("0 9 * * *", Some("Asia/Tokyo")).unwrap().wall_clock(at("2027-01-15T00:00:00Z")), "2027-01-15T09:00:00+09:00");
    }
}
