//! [`Objectives`]: a monitor's declared objectives.

use std::sync::Arc;

use super::objective::{OBJECTIVE_INFO, Objective, ObjectiveError, Sli};
use super::slow;
use crate::engine::lock::Mutex;
use crate::measure::Monitor;

/// A monitor's declared objectives: [`add`](Self::add) one next to the
/// code it judges. Cheap to clone; every `Objectives` of one monitor sees
/// the same list.
#[derive(Clone)]
pub struct Objectives {
    monitor: Monitor,
    declared: Arc<Declared>,
}

impl std::fmt::Debug for Objectives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objectives")
            .field("declared", &self.declared.list.lock().len())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Declared {
    list: Mutex<Vec<Objective>>,
}

impl Objectives {
    /// The objectives of `monitor`.
    pub fn new(monitor: &Monitor) -> Self {
        Self {
            monitor: monitor.clone(),
            declared: monitor.inner.extensions.get_or_init(Declared::default),
        }
    }

    /// Declares `objective`: checks it, exports it as [`OBJECTIVE_INFO`],
    /// and for a latency objective adds its threshold to its metric's
    /// classic boundaries.
    ///
    /// # Errors
    /// [`ObjectiveError`]: a bad field, a name already declared, or a
    /// registry that refuses the info metric (its caps).
    pub fn add(&self, objective: Objective) -> Result<(), ObjectiveError> {
        objective.validate()?;
        let mut list = self.declared.list.lock();
        if list.iter().any(|o| o.name == objective.name) {
            return Err(ObjectiveError::Duplicate(objective.name));
        }
        self.monitor.registry().describe(
            OBJECTIVE_INFO,
            "A declared service-level objective (value 1): its name, SLI, target, period, threshold and the labels of the calls it judges.",
        );
        let labels = objective.info_labels();
        let refs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let info = self
            .monitor
            .registry()
            .gauge(OBJECTIVE_INFO, &refs)
            .map_err(|source| ObjectiveError::Registry {
                objective: objective.name.clone(),
                source: Box::new(source),
            })?;
        info.set(1);
        if let (Sli::Latency { threshold }, Some(scope)) = (objective.sli, &objective.scope) {
            crate::export::add_boundary(&self.monitor, scope.metric(), threshold.as_secs_f64());
        }
        slow::watch_objective(&self.monitor, &objective);
        list.push(objective);
        Ok(())
    }

    /// The objectives declared, in order.
    pub fn list(&self) -> Vec<Objective> {
        self.declared.list.lock().clone()
    }
}
