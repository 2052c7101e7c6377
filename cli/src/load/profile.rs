//! Profiles: named shapes of the arrival rate over a run, as stages of a
//! linear ramp (or hold) each, and the exact send time of the i-th request
//! under them.
//!
//! With `--rate R` the expected traffic and `--duration D` the run:
//!
//! | profile | stages |
//! | --- | --- |
//! | `constant` (default) | R for D |
//! | `load` | ramp 0 → R over D/10, hold R for 9D/10 |
//! | `stress` | five holds of D/5: R, 1.5R, 2R, 2.5R, 3R |
//! | `spike` | R for 2D/5, 5R for D/5, R for 2D/5 (sudden jumps) |
//! | `soak` | R for D (meant for hours; memory stays flat) |
//! | `breakpoint` | holds of `--step` each (10 s): R, 2R, 3R, … until a threshold fails in a step or D has passed; the knee is the last rate that held |

use std::time::Duration;

/// One stage: the rate goes linearly from `from` to `to` over `length`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stage {
    pub(crate) length: Duration,
    pub(crate) from: f64,
    pub(crate) to: f64,
}

impl Stage {
    fn hold(length: Duration, rate: f64) -> Self {
        Self {
            length,
            from: rate,
            to: rate,
        }
    }

    /// Requests the stage sends.
    fn count(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.length.as_secs_f64()
    }

    /// Seconds into the stage at which its `c`-th request (from 0) is due:
    /// the `t` where `from·t + (to − from)·t²/(2·length) = c`.
    fn time_of(&self, c: f64) -> f64 {
        let d = self.length.as_secs_f64();
        let a = (self.to - self.from) / (2.0 * d);
        let b = self.from;
        if a.abs() < 1e-12 {
            return c / b;
        }
        (-b + (b * b + 4.0 * a * c).max(0.0).sqrt()) / (2.0 * a)
    }

    /// The rate the stage aims at, for reports: its end rate.
    pub(crate) fn rate(&self) -> f64 {
        self.to
    }
}

/// The profiles `--profile` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Profile {
    /// The rate for the whole run.
    Constant,
    /// Ramp up to the rate, then hold it.
    Load,
    /// Steps beyond the rate, up to 3×.
    Stress,
    /// A sudden jump to 5× the rate and back.
    Spike,
    /// A long hold (hours).
    Soak,
    /// Steps of +rate until a threshold fails; reports the knee.
    Breakpoint,
}

impl Profile {
    /// The stages of this profile for `rate` and `duration` (`step`: the
    /// length of a breakpoint step).
    pub(crate) fn stages(self, rate: f64, duration: Duration, step: Duration) -> Vec<Stage> {
        let part = |n: u32, of: u32| duration * n / of;
        match self {
            Profile::Constant | Profile::Soak => vec![Stage::hold(duration, rate)],
            Profile::Load => vec![
                Stage {
                    length: part(1, 10),
                    from: 0.0,
                    to: rate,
                },
                Stage::hold(duration - part(1, 10), rate),
            ],
            Profile::Stress => [1.0, 1.5, 2.0, 2.5, 3.0]
                .iter()
                .map(|k| Stage::hold(part(1, 5), rate * k))
                .collect(),
            Profile::Spike => vec![
                Stage::hold(part(2, 5), rate),
                Stage::hold(part(1, 5), rate * 5.0),
                Stage::hold(duration - part(3, 5), rate),
            ],
            Profile::Breakpoint => {
                let steps = (duration.as_secs_f64() / step.as_secs_f64())
                    .floor()
                    .max(1.0) as u32;
                (1..=steps)
                    .map(|k| Stage::hold(step, rate * f64::from(k)))
                    .collect()
            }
        }
    }
}

/// The send times of a run's requests under its stages.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    stages: Vec<Stage>,
    /// Requests before each stage, and (last) in all.
    before: Vec<f64>,
    /// Seconds before each stage.
    starts: Vec<f64>,
}

impl Schedule {
    pub(crate) fn new(stages: Vec<Stage>) -> Self {
        let mut before = vec![0.0];
        let mut starts = vec![0.0];
        for s in &stages {
            before.push(before.last().copied().unwrap_or(0.0) + s.count());
            starts.push(starts.last().copied().unwrap_or(0.0) + s.length.as_secs_f64());
        }
        Self {
            stages,
            before,
            starts,
        }
    }

    pub(crate) fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// Seconds from the start of stage `k`.
    pub(crate) fn stage_start(&self, k: usize) -> f64 {
        self.starts[k.min(self.starts.len() - 1)]
    }

    /// The whole run, in seconds.
    #[cfg(test)]
    pub(crate) fn length(&self) -> f64 {
        self.starts.last().copied().unwrap_or(0.0)
    }

    /// How many requests are due in the first `seconds` of the run.
    pub(crate) fn count_before(&self, seconds: f64) -> f64 {
        let mut total = 0.0;
        for (k, s) in self.stages.iter().enumerate() {
            let start = self.starts[k];
            if seconds <= start {
                break;
            }
            let d = s.length.as_secs_f64();
            let t = (seconds - start).min(d);
            total += s.from * t + (s.to - s.from) * t * t / (2.0 * d);
        }
        total
    }

    /// When request `i` (from 0) is due, in seconds from the start, and its
    /// stage; `None` past the last.
    pub(crate) fn due(&self, i: u64) -> Option<(f64, usize)> {
        let c = i as f64;
        let k = self
            .before
            .windows(2)
            .position(|w| c < w[1] && w[1] > w[0])?;
        let t = self.starts[k] + self.stages[k].time_of(c - self.before[k]);
        Some((t, k))
    }

    /// The stage running `seconds` into the run.
    #[cfg(test)]
    pub(crate) fn stage_at(&self, seconds: f64) -> usize {
        self.starts
            .windows(2)
            .position(|w| seconds < w[1])
            .unwrap_or(self.stages.len().saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_per_second(s: &Schedule) -> Vec<u64> {
        let mut out = vec![0; s.length().ceil() as usize];
        let mut i = 0;
        while let Some((t, _)) = s.due(i) {
            out[t as usize] += 1;
            i += 1;
        }
        out
    }

    #[test]
    fn each_profile_sends_its_shape() {
        let d = Duration::from_secs(10);
        let step = Duration::from_secs(2);
        let shape = |p: Profile| counts_per_second(&Schedule::new(p.stages(100.0, d, step)));
        assert_eq!(shape(Profile::Constant), vec![100; 10]);
        assert_eq!(
            shape(Profile::Stress),
            vec![100, 100, 150, 150, 200, 200, 250, 250, 300, 300]
        );
        assert_eq!(
            shape(Profile::Spike),
            vec![100, 100, 100, 100, 500, 500, 100, 100, 100, 100]
        );
        assert_eq!(
            shape(Profile::Breakpoint),
            vec![100, 100, 200, 200, 300, 300, 400, 400, 500, 500]
        );
        // A ramp from 0 to 100 over the first second: 50 requests, then 100
        // a second.
        let load = shape(Profile::Load);
        assert_eq!(load[0], 50);
        assert_eq!(&load[1..], &[100; 9]);
        // The ramp's requests are spread as its rate says: the first
        // quarter second holds 1/16 of them.
        let s = Schedule::new(Profile::Load.stages(100.0, d, step));
        let early = (0..50).filter(|i| s.due(*i).unwrap().0 < 0.25).count();
        assert!((3..=4).contains(&early), "{early}");
        assert_eq!(s.due(0).unwrap().1, 0);
        assert_eq!(s.stage_at(0.5), 0);
        assert_eq!(s.stage_at(5.0), 1);
        assert!(s.due(50 + 900).is_none());
        assert!((s.count_before(1.0) - 50.0).abs() < 1e-9);
        assert!((s.count_before(3.5) - 300.0).abs() < 1e-9);
        assert!((s.count_before(100.0) - 950.0).abs() < 1e-9);
    }
}
