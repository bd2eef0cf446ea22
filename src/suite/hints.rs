//! What a run adds to what went wrong or what it read: a resumed trial's way out, the
//! chain to record again when Meshy refused a recorded input, and the one line after a
//! replay when `cassettes check` would report something (freshness).

use super::commands::Rerecord;
use super::planning::Plan;
use super::{Produced, Suite, TrialContext, TrialError, resume};
use crate::scenario::Scenario;
use crate::sync::lock;

/// A resumed trial that fails keeps resuming the same task: say how to give it up.
pub(super) fn resumed_hint(error: TrialError, plan: &Plan) -> TrialError {
    match &plan.action {
        resume::Action::Resume { path } if !error.is_interrupted() => TrialError::Resumed {
            source: Box::new(error),
            journal: path.clone(),
        },
        _ => error,
    }
}

impl Suite {
    /// Remembers, from what a replayed trial already read, what `cassettes check` would
    /// point out: an older API version, fields the SDK does not model.
    pub(super) fn note_freshness(&self, name: &str, ctx: &TrialContext, produced: &Produced) {
        let mut notes = lock(&self.freshness);
        if let Some(version) = ctx.cassette.api_version()
            && version != crate::sim::API_VERSION
        {
            notes.0.insert(name.to_owned(), version);
        }
        let task = produced
            .task
            .as_ref()
            .and_then(|t| serde_json::from_value::<crate::meshy::Task>(t.clone()).ok());
        if let Some(task) = task {
            notes.1.extend(task.extra.keys().cloned());
        }
    }

    /// One line after a replay when `cassettes check` would report something.
    pub(super) fn freshness_line(&self) -> Option<String> {
        let notes = lock(&self.freshness);
        let (old, fields) = &*notes;
        if old.is_empty() && fields.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !old.is_empty() {
            let versions: std::collections::BTreeSet<&String> = old.values().collect();
            let versions: Vec<&str> = versions.into_iter().map(String::as_str).collect();
            parts.push(format!(
                "{} replayed recordings were made against {}, not today's {}",
                old.len(),
                versions.join(", "),
                crate::sim::API_VERSION
            ));
        }
        if !fields.is_empty() {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            parts.push(format!(
                "recorded tasks carry fields the SDK does not model ({})",
                fields.join(", ")
            ));
        }
        Some(format!(
            "note: {}; see `{}`",
            parts.join("; "),
            self.settings.commands.cli("cassettes check")
        ))
    }

    /// A dependent scenario whose recorded input Meshy refused: name the chain to
    /// record again, input first.
    pub(super) fn chain_hint(
        &self,
        error: TrialError,
        scenario: &Scenario,
        input: &Produced,
    ) -> TrialError {
        // Under `rewrite`, a trial's inputs are recorded again first: one command
        // records the whole chain, each link once.
        let command = self.rerecord_command(&scenario.name, Rerecord::Again, &self.run_against());
        TrialError::Chain {
            source: Box::new(error),
            task_id: input.task_id.clone(),
            input: input.scenario.clone(),
            command,
        }
    }
}
