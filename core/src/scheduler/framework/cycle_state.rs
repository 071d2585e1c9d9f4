//! CycleState: what plugins compute once per scheduling cycle (in PreFilter
//! or PreScore) and read for every node (in Filter or Score), after
//! kube-scheduler's `framework.CycleState`. Per-pod work is done once, not
//! once per node: that is most of what makes a cycle over thousands of
//! nodes cheap.
//!
//! Entries are keyed by their Rust type, so each plugin reads back exactly
//! the struct it wrote. A cycle holds a handful of entries; a linear scan
//! of type ids is faster than any map at that size.

use std::any::{Any, TypeId};

/// Data a plugin keeps in the cycle state. It must be clonable because
/// preemption evaluates each candidate node on its own copy. Entries are
/// read back as `dyn Any` by upcasting (no call: Filter and Score read
/// them for every node).
pub trait StateData: Any {
    fn clone_data(&self) -> Box<dyn StateData>;
}

impl<T: Any + Clone> StateData for T {
    fn clone_data(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
}

#[derive(Default)]
pub struct CycleState {
    entries: Vec<(TypeId, Box<dyn StateData>)>,
    /// Plugins whose PreFilter returned Skip: their Filter is not run.
    skip_filter: Vec<&'static str>,
    /// Plugins whose PreScore returned Skip: their Score is not run.
    skip_score: Vec<&'static str>,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            entries: self.entries.iter().map(|(id, data)| (*id, (**data).clone_data())).collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    pub fn write<T: StateData>(&mut self, data: T) {
        let id = TypeId::of::<T>();
        match self.entries.iter_mut().find(|(k, _)| *k == id) {
            Some(entry) => entry.1 = Box::new(data),
            None => self.entries.push((id, Box::new(data))),
        }
    }

    pub fn read<T: StateData>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries.iter().find(|(k, _)| *k == id).and_then(|(_, d)| (&**d as &dyn Any).downcast_ref())
    }

    pub fn read_mut<T: StateData>(&mut self) -> Option<&mut T> {
        let id = TypeId::of::<T>();
        self.entries.iter_mut().find(|(k, _)| *k == id).and_then(|(_, d)| (&mut **d as &mut dyn Any).downcast_mut())
    }

    pub fn skip_filter(&mut self, plugin: &'static str) {
        self.skip_filter.push(plugin);
    }

    pub fn skips_filter(&self, plugin: &'static str) -> bool {
        self.skip_filter.contains(&plugin)
    }

    pub fn skip_score(&mut self, plugin: &'static str) {
        self.skip_score.push(plugin);
    }

    pub fn skips_score(&self, plugin: &'static str) -> bool {
        self.skip_score.contains(&plugin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Counts(u32);
    #[derive(Clone, Debug, PartialEq)]
    struct Names(Vec<String>);

    #[test]
    fn entries_are_read_back_by_type_and_cloned_independently() {
        let mut state = CycleState::default();
        state.write(Counts(1));
        state.write(Names(vec!["a".into()]));
        state.write(Counts(2));
        assert_eq!(state.read::<Counts>(), Some(&Counts(2)));
        let mut copy = state.clone();
        copy.read_mut::<Names>().unwrap().0.push("b".into());
        assert_eq!(state.read::<Names>().unwrap().0.len(), 1);
        assert_eq!(copy.read::<Names>().unwrap().0.len(), 2);
        assert!(state.read::<String>().is_none());
    }
}
