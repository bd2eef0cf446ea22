//! Running a trial: a scenario's outcome computed once ([`Suite::produce`]), its story
//! top to bottom ([`Suite::run_scenario`]), `--dry-run` ([`Suite::dry_run`]), a trial
//! written in Rust ([`Suite::run_custom`]), and the steps they share: the trial's
//! context, its journals concluded, stale webhook recordings removed, the simulator told
//! about inputs and rules.

use std::path::PathBuf;
use std::sync::Arc;

use super::hints::resumed_hint;
use super::live::Recording;
use super::planning::Plan;
use super::trial::{self, ContextSpec};
use super::{LiveState, Produced, Suite, Target, TrialContext, TrialError};
use crate::meshy::{TaskRequest, TaskStatus};
use crate::scenario::{Delivery, Scenario};
use crate::sim::Rule;
use crate::sync::lock;
use crate::webhooks::Recording as WebhookRecording;

/// The body of a trial written in Rust.
pub type CustomTrial =
    dyn Fn(&TrialContext) -> Result<(), Box<dyn std::error::Error>> + Send + Sync;

/// The key sent when replaying: never checked (the cassette answers), never written.
const REPLAY_KEY: &str = "msy_replay_placeholder_key";

impl Suite {
    /// The scenario's outcome, computed once however many trials need it (a dependent
    /// scenario asks for its input's). Blocks while another thread computes it.
    pub(super) fn produce(&self, name: &str) -> Result<Produced, TrialError> {
        let cell = Arc::clone(lock(&self.produced).entry(name.to_owned()).or_default());
        cell.get_or_init(|| self.run_scenario(name)).clone()
    }

    /// A scenario trial's story, top to bottom, each step a call into the module that
    /// owns it:
    /// 1. the scenario (loaded once, in [`Suite::new`]) and its input's outcome, which
    ///    runs the input first if it has not run ([`Suite::produce`]);
    /// 2. its request, then the plan: its files read once and the record mode applied
    ///    ([`Suite::plan`], `resume::inspect` and `resume::decide`);
    /// 3. the recording context, and create calls that may have reached Meshy
    ///    reconciled ([`Suite::prepare`]);
    /// 4. the trial's world on the cassette the plan read ([`Suite::context`],
    ///    `TrialContext::new`), then submit → terminal payload → handler → assertions
    ///    (`trial::run_scenario`);
    /// 5. its journals completed or left to resume ([`Suite::conclude`]).
    pub(super) fn run_scenario(&self, name: &str) -> Result<Produced, TrialError> {
        // Also when it is another trial's input: it is never recorded against the real API.
        if let Some(reason) = self.skipped(name) {
            return Err(TrialError::NotRun {
                scenario: name.to_owned(),
                reason,
            });
        }
        let scenario = match self.file(name) {
            Some(Ok(scenario)) if self.scenarios.contains_key(name) => scenario,
            Some(Err(error)) => return Err(TrialError::Invalid(error.clone())),
            _ => return Err(TrialError::NoScenario(name.to_owned())),
        };
        let input = match &scenario.input {
            None => None,
            Some(input) => {
                let produced = self.produce(input).map_err(|e| TrialError::InputFailed {
                    input: input.clone(),
                    source: Box::new(e),
                })?;
                if produced.status != TaskStatus::Succeeded {
                    return Err(TrialError::InputNotSucceeded {
                        input: input.clone(),
                        status: produced.status,
                    });
                }
                Some(produced)
            }
        };
        let request = scenario
            .request(input.as_ref().map(|p| p.task_id.as_str()))
            .map_err(|source| TrialError::Request {
                path: scenario.path.clone(),
                source,
            })?;
        if self.settings.dry_run {
            return self.dry_run(scenario, &request);
        }
        let plan = self.plan(name, Some((scenario, &request)));
        if plan.records()
            && scenario.delivery == Delivery::Webhook
            && !self.settings.record_webhooks
        {
            return Err(TrialError::NeedsWebhooks {
                scenario: name.to_owned(),
                mode: self.settings.record_mode,
                command: plan.rerecord.clone(),
            });
        }
        let mut plan = self.replan_locked(plan, || self.plan(name, Some((scenario, &request))))?;
        self.note_ran(name, &plan.action);
        let recording = self.prepare(name, &plan)?;
        if let (Some(_), Some(behaviour)) = (&recording, &scenario.simulator) {
            self.add_sim_rule(Rule {
                prompt_contains: scenario.prompt.clone(),
                task_type: Some(scenario.task_type),
                then: behaviour.clone(),
            });
        }
        // An input replayed from its recording: a fresh simulator must know its task.
        let replayed_input = input.as_ref().filter(|p| !p.recorded);
        if let (Some(_), Some(input)) = (&recording, replayed_input) {
            self.seed_sim(scenario, input);
        }
        // A replay's repository is read back only through the repository: in memory.
        let in_memory = !plan.records();
        let ctx = self.context(name, &mut plan, recording, in_memory)?;
        let outcome = ctx.block_on(trial::run_scenario(&ctx, scenario, &request));
        let outcome = outcome.map_err(|error| resumed_hint(error, &plan));
        // A scenario pinned to a version on purpose is not news.
        let pinned = scenario
            .simulator
            .as_ref()
            .is_some_and(|b| b.api_version.is_some());
        if let (Ok(produced), false, false) = (&outcome, ctx.records, pinned) {
            self.note_freshness(name, &ctx, produced);
        }
        let outcome = match (outcome, replayed_input) {
            (Err(error), Some(input)) if ctx.records && error.is_refused_request() => {
                Err(self.chain_hint(error, scenario, input))
            }
            (outcome, _) => outcome,
        };
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        self.hand_over(name, super::results::read_by(&ctx, &mut plan));
        let mut produced = outcome?;
        produced.files.extend(written);
        if produced.recorded {
            self.remove_stale_recordings(name, std::slice::from_ref(&produced.task_id));
        }
        if produced.recorded {
            lock(&self.recorded).push(produced.clone());
        }
        Ok(produced)
    }

    /// `--dry-run`: the scenario's request sent with the test-mode key, the task
    /// followed by polling (test mode sends no webhooks) until it ends; nothing is
    /// written, no credit is spent.
    pub(super) fn dry_run(
        &self,
        scenario: &Scenario,
        request: &TaskRequest,
    ) -> Result<Produced, TrialError> {
        if self.settings.target == Target::Sim {
            return Err(TrialError::DryRunOnSim);
        }
        lock(&self.ran).insert(scenario.name.clone(), crate::report::Ran::DryRun);
        let started = std::time::Instant::now();
        let base_url = self
            .env
            .base_url
            .clone()
            .unwrap_or_else(|| crate::meshy::DEFAULT_BASE_URL.to_owned());
        let transport = match self.dry_transport.get() {
            Some(transport) => Arc::clone(transport),
            None => {
                let made = crate::transport::LiveTransport::new(Default::default())
                    .map_err(|e| TrialError::Transport(Arc::new(e)))?;
                Arc::clone(self.dry_transport.get_or_init(|| Arc::new(made)))
            }
        };
        let config = crate::meshy::ClientConfig {
            base_url: base_url.clone(),
            api_key: Some(crate::meshy::TEST_MODE_API_KEY.into()),
            generation: crate::meshy::ApiGeneration::V1,
            ..Default::default()
        };
        let client = crate::meshy::Client::new(config, transport)
            .map_err(|e| TrialError::Client(Arc::new(e)))?;
        let scratch = tempfile::tempdir().map_err(|e| TrialError::Scratch {
            trial: scenario.name.clone(),
            source: Arc::new(e),
        })?;
        let service = crate::meshy::TaskService::new(
            client,
            crate::repository::Repository::ephemeral(scratch.path()),
        );
        let options = crate::meshy::PollOptions {
            interval: std::time::Duration::from_secs(1),
            timeout: self.settings.webhook_timeout,
        };
        let name = &scenario.name;
        let task = self.runtime.block_on(async {
            let submission = service
                .submit(&scenario.species, request)
                .await
                .map_err(|e| TrialError::DryRunRefused {
                    scenario: name.clone(),
                    source: Arc::new(e),
                })?;
            service
                .poll(&submission, &options, |_| {})
                .await
                .map_err(|e| TrialError::DryRunUnfinished {
                    scenario: name.clone(),
                    source: Arc::new(e),
                })
        })?;
        let produced = Produced {
            scenario: name.clone(),
            task_id: task.id.clone(),
            status: task.status.clone(),
            duration: started.elapsed(),
            recorded: false,
            files: Vec::new(),
            api_payload: false,
            task: serde_json::to_value(&task).ok(),
        };
        lock(&self.dry_runs).push((produced.clone(), base_url));
        Ok(produced)
    }

    pub(super) fn run_custom(&self, name: &str, body: &CustomTrial) -> Result<(), TrialError> {
        let plan = self.plan(name, None);
        if plan.records() && !self.settings.record_webhooks {
            return Err(TrialError::NotRecorded {
                trial: name.to_owned(),
                command: plan.rerecord.clone(),
            });
        }
        let mut plan = self.replan_locked(plan, || self.plan(name, None))?;
        self.note_ran(name, &plan.action);
        let recording = self.prepare(name, &plan)?;
        // A trial written in Rust may ask its repository for paths: on disk.
        let ctx = self.context(name, &mut plan, recording, false)?;
        let outcome = body(&ctx).map_err(|e| TrialError::Custom(e.to_string()));
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        self.hand_over(name, super::results::read_by(&ctx, &mut plan));
        if ctx.records && outcome.is_ok() {
            let claimed: Vec<String> = ctx
                .recorder
                .claimed()
                .into_iter()
                .map(|c| c.task_id)
                .collect();
            self.remove_stale_recordings(name, &claimed);
            let produced = Produced {
                scenario: name.to_owned(),
                task_id: "-".into(),
                status: TaskStatus::Succeeded,
                duration: ctx.elapsed(),
                recorded: true,
                files: written,
                api_payload: ctx.recorder.claimed().iter().any(|c| c.from_api),
                task: None,
            };
            lock(&self.recorded).push(produced);
        }
        outcome
    }

    /// After a trial: on success its webhook recordings and cassette are marked
    /// complete (a re-recording replaces the old cassette only now); on failure the
    /// journal stays incomplete, for the next run to resume. The files written.
    pub(super) fn conclude(
        &self,
        name: &str,
        ctx: &TrialContext,
        passed: bool,
    ) -> Result<Vec<PathBuf>, TrialError> {
        if ctx.records && !passed {
            lock(&self.unfinished).push((name.to_owned(), ctx.cassette_path().to_owned()));
        }
        ctx.finish(passed)
    }

    /// The trial's world (`TrialContext::new`): its cassette as planned, and its
    /// throwaway repository in memory or in a scratch directory (`in_memory`).
    pub(super) fn context(
        &self,
        name: &str,
        plan: &mut Plan,
        recording: Option<Recording>,
        in_memory: bool,
    ) -> Result<TrialContext, TrialError> {
        let main = self.cassette_path(name);
        let (cassette, mode) = plan.action.cassette(&main, self.settings.record_mode);
        let spec = ContextSpec {
            name: name.to_owned(),
            rerecord: plan.rerecord.clone(),
            replaces: (cassette != main).then_some(main),
            cassette,
            mode,
            records: plan.records(),
            timeout: self.settings.webhook_timeout,
            interrupt: self.interrupt.receiver(),
            slots: plan.records().then(|| Arc::clone(&self.slots)),
            file: plan.file.take(),
            generation: self.scenarios.get(name).and_then(|s| s.api),
            in_memory,
            reads: plan.reads.clone(),
            settling: plan
                .records()
                .then(|| (Arc::clone(&self.reconciling), self.known_tasks())),
        };
        TrialContext::new(
            spec,
            recording,
            &self.webhooks_dir(),
            self.env.api_key.as_deref().unwrap_or(REPLAY_KEY),
            self.runtime.handle().clone(),
        )
    }

    /// After a trial recorded anew: its webhook recordings of earlier tasks (a
    /// re-recording, an abandoned journal) are no longer its recording. Those of a task a
    /// cassette set aside as unreadable names are kept with that file: it may be mended.
    pub(super) fn remove_stale_recordings(&self, trial: &str, keep: &[String]) {
        let dir = self.webhooks_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let set_aside: Vec<String> =
            crate::check::set_aside(&self.settings.cassettes_dir.join("http"))
                .into_iter()
                .filter(|(scenario, _, _)| scenario == trial)
                .map(|(_, _, text)| text)
                .collect();
        let named_aside = |task_id: &str| set_aside.iter().any(|text| text.contains(task_id));
        for entry in entries.filter_map(Result::ok) {
            if entry.path().extension().is_none_or(|x| x != "json") {
                continue;
            }
            let stale = WebhookRecording::read(&entry.path(), "").is_ok_and(|r| {
                r.scenario.as_deref() == Some(trial)
                    && !keep.contains(&r.task_id)
                    && !named_aside(&r.task_id)
            });
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                self.console.line(&format!(
                    "{trial}: removed '{}', the webhook recording of its earlier task",
                    entry.path().display()
                ));
            }
        }
    }

    /// Seeds the run's simulator with a replayed input's terminal task (same id).
    pub(super) fn seed_sim(&self, scenario: &Scenario, input: &Produced) {
        let Some(name) = &scenario.input else { return };
        let (Some(task), Some(input_scenario)) = (&input.task, self.scenarios.get(name)) else {
            return;
        };
        if let LiveState::Started(live) = &*lock(&self.live)
            && let Some(sim) = &live.sim
        {
            sim.seed_task(input_scenario.task_type, task);
        }
    }

    pub(super) fn add_sim_rule(&self, rule: Rule) {
        if let LiveState::Started(live) = &*lock(&self.live)
            && let Some(sim) = &live.sim
        {
            sim.add_rule(rule);
        }
    }
}
