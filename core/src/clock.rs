//! The time a driver gives the control plane. Core never reads a clock:
//! drivers pass `now` in. Production drivers (node-host) pass real time;
//! the playground and tests can pass a virtual time that a learner pauses,
//! steps and speeds up. This clock is that virtual time: it follows the
//! driver's real clock while running (scaled by its speed), stands still
//! while paused, and jumps forward when stepped, never backwards.
//!
//! Stepping "to the next wake-up" is how a simulation skips the idle time
//! between events: `clock.step_to(plane.next_wake())` lands exactly on
//! the moment the next controller (or kubelet) has something to do, so a
//! simulated day runs in milliseconds and the same inputs give the same
//! history.

use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// The fastest a learner may speed time up: a day in under two minutes.
pub const MAX_SPEED: f64 = 1000.0;

#[derive(Clone, Debug, PartialEq)]
pub struct Clock {
    now: Timestamp,
    paused: bool,
    speed: f64,
    /// The driver's real time at the last `follow`, if any.
    last_real: Option<Timestamp>,
}

impl Clock {
    /// A virtual clock at `start`, running at real speed.
    pub fn starting_at(start: Timestamp) -> Self {
        Clock { now: start, paused: false, speed: 1.0, last_real: None }
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn pause(&mut self) {
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.paused = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// How many virtual seconds pass per real second while running; kept
    /// between a thousandth and [`MAX_SPEED`].
    pub fn set_speed(&mut self, factor: f64) {
        self.speed = if factor.is_finite() { factor.clamp(0.001, MAX_SPEED) } else { 1.0 };
    }

    /// The driver read its real clock: while running, virtual time moves on
    /// by the real time elapsed since the last reading, times the speed.
    /// The first reading only sets the reference. Returns the new time.
    pub fn follow(&mut self, real: Timestamp) -> Timestamp {
        if let Some(last) = self.last_real.replace(real) {
            let elapsed = real.duration_since(last);
            if !self.paused && elapsed > SignedDuration::ZERO {
                let scaled = SignedDuration::from_secs_f64(elapsed.as_secs_f64() * self.speed);
                self.step(scaled);
            }
        }
        self.now
    }

    /// Moves time on by `by` (also while paused: a learner's "step").
    pub fn step(&mut self, by: SignedDuration) -> Timestamp {
        if by > SignedDuration::ZERO {
            self.now = self.now.checked_add(by).unwrap_or(Timestamp::MAX);
        }
        self.now
    }

    /// Moves time on to `at`, if that is later: to the next wake-up of a
    /// control plane or node (`None`: nothing is waiting, time stays).
    pub fn step_to(&mut self, at: Option<Timestamp>) -> Timestamp {
        if let Some(at) = at.filter(|at| *at > self.now) {
            self.now = at;
        }
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn follows_real_time_at_its_speed_and_stands_still_when_paused() {
        let mut clock = Clock::starting_at(at(0));
        let real = |s: i64| Timestamp::from_second(1_000 + s).unwrap();
        assert_eq!(clock.follow(real(0)), at(0), "the first reading is only a reference");
        assert_eq!(clock.follow(real(2)), at(2));
        clock.set_speed(10.0);
        assert_eq!(clock.follow(real(3)), at(12));
        clock.pause();
        assert_eq!(clock.follow(real(10)), at(12), "paused: real time passes, virtual time does not");
        assert_eq!(clock.step(SignedDuration::from_secs(5)), at(17), "a step works while paused");
        clock.resume();
        assert_eq!(clock.follow(real(11)), at(27));
        assert_eq!(clock.follow(real(5)), at(27), "a real clock going back changes nothing");
    }

    #[test]
    fn steps_to_the_next_wake_up_and_never_backwards() {
        let mut clock = Clock::starting_at(at(100));
        assert_eq!(clock.step_to(Some(at(130))), at(130));
        assert_eq!(clock.step_to(Some(at(120))), at(130));
        assert_eq!(clock.step_to(None), at(130));
        clock.set_speed(f64::NAN);
        assert_eq!(clock.speed(), 1.0);
        clock.set_speed(1e9);
        assert_eq!(clock.speed(), MAX_SPEED);
    }
}
