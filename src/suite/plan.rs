//! The recording plan printed before anything is spent against the real API: exactly
//! the trials that will send live requests after filters and record modes, what each
//! costs (from the one price table, `meshy::pricing`), the total and the balance — and
//! the refusals of a plan over `--max-credits` or over the balance. The entries are
//! gathered here too, from what the suite knows (its files, libtest's filters, each
//! trial's planned action: `Suite::plan_entries`), then priced and worded.

use std::fmt::Write as _;

use libtest_mimic::Trial;

use super::live::Live;
use super::{Suite, Target, is_recorded, resume};
use crate::cassette::{RecordedAgainst, recorded_task_id};
use crate::meshy::{DEFAULT_BASE_URL, TaskType};
use crate::scenario::{Delivery, Scenario};
use crate::sync::lock;

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub what: What,
    /// Not selected, but an input of this selected scenario that is not recorded yet.
    pub required_by: Option<String>,
    /// What its request costs when it pays (records, or reconciles to nothing), if known.
    pub credits: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// Submits a new task; `None`: a trial written in Rust (its tasks are not known).
    Records(Option<TaskType>),
    /// Resumes a task its journal holds: nothing is paid.
    Resumes(Option<TaskType>),
    /// Its journal holds a create call without an answer: nothing is paid if the task
    /// list shows the task, the full price if it shows none (counted in the total).
    Reconciles(Option<TaskType>),
    /// Not run here, and why.
    Skipped(String),
}

/// What the plan costs: credits of known price, and entries of unknown price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub known: u64,
    pub unknown: usize,
}

pub fn cost(entries: &[Entry]) -> Cost {
    let mut cost = Cost::default();
    for entry in entries {
        if let What::Records(_) | What::Reconciles(_) = entry.what {
            match entry.credits {
                Some(credits) => cost.known += credits,
                None => cost.unknown += 1,
            }
        }
    }
    cost
}

/// The plan as printed, for a run that records `against` the real API or a rehearsal
/// (shown by its origin only: a credential in `MESHY_BASE_URL` is never printed). A
/// rehearsal's costs are counted as if paid (it may forward to the real API), but it is
/// never presented as the real API.
pub fn render(entries: &[Entry], against: &RecordedAgainst, balance: Option<u64>) -> String {
    let balance_text = balance.map_or("unknown".to_owned(), |b| b.to_string());
    let mut out = match against {
        RecordedAgainst::Rehearsal(at) => format!(
            "rehearsing against {}, not the real Meshy API; costs count as if paid, in case it forwards \
             to Meshy (balance: {balance_text} credits):\n",
            at.as_deref().unwrap_or("another base URL")
        ),
        _ => format!(
            "recording against the Meshy API at {DEFAULT_BASE_URL} (balance: {balance_text} credits):\n"
        ),
    };
    if entries.is_empty() {
        out.push_str("  nothing to record\n");
        return out;
    }
    let width = entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for entry in entries {
        let kind = |t: Option<TaskType>| t.map_or("rust trial", TaskType::as_str);
        let price = entry
            .credits
            .map_or("unknown credits".to_owned(), |n| format!("{n} credits"));
        let line = match &entry.what {
            What::Records(t) => format!("{:13}  {price}", kind(*t)),
            What::Resumes(t) => format!("{:13}  0 credits (resumes its task)", kind(*t)),
            What::Reconciles(t) => format!(
                "{:13}  0 credits if its unanswered create call made a task, else {price}",
                kind(*t),
            ),
            What::Skipped(why) => format!("skipped: {why}"),
        };
        let required = entry
            .required_by
            .as_ref()
            .map(|by| format!(" (required by {by})"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {:width$}  {line}{required}", entry.name);
    }
    let cost = cost(entries);
    let unknown = match cost.unknown {
        0 => String::new(),
        n => format!(" + {n} of unknown cost"),
    };
    let after = balance.map_or(String::new(), |b| {
        format!(", leaving {}", b.saturating_sub(cost.known))
    });
    let _ = writeln!(out, "  total: {} credits{unknown}{after}", cost.known);
    out
}

/// A plan refused before anything is spent; `cost` is its known cost in credits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "refusing to record: the plan costs {cost} credits, more than --max-credits={max_credits} \
         (MESHY_MAX_CREDITS); raise the limit or select fewer scenarios (a filter, --skip)"
    )]
    OverBudget { cost: u64, max_credits: u64 },
    #[error(
        "refusing to record: the plan costs {cost} credits and the account has {balance}; top up the Meshy \
         account or select fewer scenarios"
    )]
    OverBalance { cost: u64, balance: u64 },
}

/// Refuses a plan whose known cost is over `max_credits` or over the balance.
pub fn check(cost: Cost, balance: Option<u64>, max_credits: Option<u64>) -> Result<(), PlanError> {
    if let Some(max_credits) = max_credits
        && cost.known > max_credits
    {
        return Err(PlanError::OverBudget {
            cost: cost.known,
            max_credits,
        });
    }
    if let Some(balance) = balance
        && cost.known > balance
    {
        return Err(PlanError::OverBalance {
            cost: cost.known,
            balance,
        });
    }
    Ok(())
}

impl Suite {
    /// What a scenario will do in this run, resolving its input from the recordings
    /// (`None`: its input is not recorded, so both record).
    pub(super) fn planned_action(&self, scenario: &Scenario) -> Option<resume::Action> {
        let input = match &scenario.input {
            Some(input) => {
                let required = self.scenarios.get(input)?;
                match self.recorded_task(required) {
                    Some(task) => Some(task),
                    // An input that replays without a recording (`once` on a changed
                    // request) fails its miss: its dependents record nothing either.
                    None if matches!(
                        self.planned_action(required),
                        Some(resume::Action::Replay)
                    ) =>
                    {
                        return Some(resume::Action::Replay);
                    }
                    None => return None,
                }
            }
            None => None,
        };
        let request = scenario.request(input.as_deref()).ok()?;
        Some(self.plan(&scenario.name, Some((scenario, &request))).action)
    }

    /// Why a scenario's trial is skipped in this run: one the real API cannot be asked
    /// for (a `[simulator]` outcome or task error) that would record against it.
    pub(super) fn skipped(&self, name: &str) -> Option<String> {
        let scenario = self.scenarios.get(name)?;
        let why = scenario.simulator_only()?;
        if self.settings.target != Target::Meshy || !self.settings.may_record() {
            return None;
        }
        match self.planned_action(scenario) {
            Some(resume::Action::Replay | resume::Action::Refuse(_)) => None,
            _ => Some(format!(
                "simulator-only ({why}: the real Meshy API cannot be asked for it); record it with --target=sim"
            )),
        }
    }

    /// Before recording against the real API: the plan (what records, at what cost,
    /// the balance), refused when it costs more than `--max-credits` or the balance.
    pub(super) fn announce_plan(&self, live: &Live) -> Result<(), PlanError> {
        if self.settings.target != Target::Meshy {
            return Ok(());
        }
        let entries = self.plan_entries();
        let balance = self.runtime.block_on(live.balance());
        *lock(&self.balance_before) = balance;
        eprint!("{}", render(&entries, &live.against(), balance));
        check(cost(&entries), balance, self.settings.max_credits)
    }

    /// What a scenario's request costs, in the generation it will speak (the price of
    /// a v2 request depends on its model, texture and actions), if known.
    pub(super) fn price(&self, scenario: &Scenario) -> Option<u64> {
        let recorded = super::trial::recorded_generation(&self.cassette_path(&scenario.name));
        scenario.credits(super::trial::api_generation(recorded, scenario.api, || {
            None
        }))
    }

    /// The trials this run will send live requests for, after libtest's filters and
    /// the record modes: selected scenarios, the unrecorded inputs they require, and
    /// trials written in Rust.
    pub(super) fn plan_entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = Vec::new();
        let mut listed = std::collections::BTreeSet::new();
        for (name, loaded) in &self.files {
            let Ok(scenario) = loaded else { continue };
            if self.filtered_out(name, scenario.delivery.as_str()) || !listed.insert(name.clone()) {
                continue;
            }
            let why = self.skipped(name).or_else(|| {
                (scenario.delivery == Delivery::Webhook && !self.settings.record_webhooks)
                    .then(|| "a webhook scenario records only with --record-webhooks".to_owned())
            });
            if let Some(why) = why {
                entries.push(Entry {
                    name: name.clone(),
                    what: What::Skipped(why),
                    required_by: None,
                    credits: None,
                });
                continue;
            }
            let what = match self.planned_action(scenario) {
                Some(resume::Action::Replay | resume::Action::Refuse(_)) => continue,
                Some(resume::Action::Resume { path })
                    if resume::load(&path).is_some_and(|c| !c.pending.is_empty()) =>
                {
                    What::Reconciles(Some(scenario.task_type))
                }
                Some(resume::Action::Resume { .. }) => What::Resumes(Some(scenario.task_type)),
                _ => What::Records(Some(scenario.task_type)),
            };
            // Inputs run first, selected or not: unrecorded ones record (and under
            // `all`/`rewrite` recorded ones too), unfinished ones resume.
            let mut input = scenario.input.clone();
            while let Some(input_name) = input {
                let Some(required) = self.scenarios.get(&input_name) else {
                    break;
                };
                input = required.input.clone();
                let what = match self.planned_action(required) {
                    Some(resume::Action::Replay | resume::Action::Refuse(_)) => break,
                    Some(resume::Action::Resume { .. }) => What::Resumes(Some(required.task_type)),
                    _ => What::Records(Some(required.task_type)),
                };
                let what = match self.skipped(&input_name) {
                    Some(why) => What::Skipped(why),
                    None => what,
                };
                if listed.insert(input_name.clone()) {
                    entries.push(Entry {
                        credits: self.price(required),
                        name: input_name,
                        what,
                        required_by: Some(name.clone()),
                    });
                }
            }
            entries.push(Entry {
                name: name.clone(),
                what,
                required_by: None,
                credits: self.price(scenario),
            });
        }
        for name in lock(&self.customs).iter() {
            if self.filtered_out(name, "rust") || !self.settings.record_webhooks {
                continue;
            }
            match self.plan(name, None).action {
                resume::Action::Record { .. } => entries.push(Entry {
                    name: name.clone(),
                    what: What::Records(None),
                    required_by: None,
                    credits: None,
                }),
                resume::Action::Resume { .. } => entries.push(Entry {
                    name: name.clone(),
                    what: What::Resumes(None),
                    required_by: None,
                    credits: None,
                }),
                _ => {}
            }
        }
        entries
    }

    /// Whether libtest's filters leave this trial out of the run.
    pub(super) fn filtered_out(&self, name: &str, kind: &str) -> bool {
        let probe = Trial::test(name, || Ok(())).with_kind(kind);
        self.arguments.is_filtered_out(&probe)
    }

    /// The task id a scenario's complete recordings hold, following its inputs'
    /// recordings (a dependent is recorded only if its input is).
    pub(super) fn recorded_task(&self, scenario: &Scenario) -> Option<String> {
        let input = match &scenario.input {
            Some(input) => Some(self.recorded_task(self.scenarios.get(input)?)?),
            None => None,
        };
        let request = scenario.request(input.as_deref()).ok()?;
        let cassette = resume::load(&self.cassette_path(&scenario.name));
        if !is_recorded(cassette.as_ref(), &self.webhooks_dir(), scenario, &request) {
            return None;
        }
        recorded_task_id(cassette.as_ref()?, &request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, what: What) -> Entry {
        let credits = match &what {
            What::Records(t) | What::Reconciles(t) | What::Resumes(t) => {
                t.and_then(crate::meshy::pricing::credits)
            }
            What::Skipped(_) => None,
        };
        Entry {
            name: name.into(),
            what,
            required_by: None,
            credits,
        }
    }

    #[test]
    fn the_plan_prices_each_trial_and_sums_what_is_known() {
        let mut required = entry("otter_text3d", What::Records(Some(TaskType::Text3d)));
        required.required_by = Some("otter_rigging".into());
        let entries = vec![
            required,
            entry("otter_rigging", What::Records(Some(TaskType::Rigging))),
            entry("otter_image", What::Records(Some(TaskType::TextToImage))),
            entry("otter_again", What::Resumes(Some(TaskType::Text3d))),
            entry("otter_pipeline_in_rust", What::Records(None)),
            entry("otter_blocked", What::Skipped("simulator-only".into())),
        ];
        assert_eq!(
            cost(&entries),
            Cost {
                known: 25,
                unknown: 2
            }
        );
        let text = render(&entries, &RecordedAgainst::Meshy, Some(100));
        assert_eq!(
            text,
            "recording against the Meshy API at https://api.meshy.ai (balance: 100 credits):\n\
             \x20 otter_text3d            text3d         20 credits (required by otter_rigging)\n\
             \x20 otter_rigging           rigging        5 credits\n\
             \x20 otter_image             text_to_image  unknown credits\n\
             \x20 otter_again             text3d         0 credits (resumes its task)\n\
             \x20 otter_pipeline_in_rust  rust trial     unknown credits\n\
             \x20 otter_blocked           skipped: simulator-only\n\
             \x20 total: 25 credits + 2 of unknown cost, leaving 75\n"
        );
    }

    /// A rehearsal is never presented as the real API, nor by more than its origin;
    /// its costs still count (it may forward to Meshy), so `--max-credits` holds.
    #[test]
    fn a_rehearsal_s_plan_says_so_and_still_counts_its_costs() {
        let entries = vec![entry("otter_text3d", What::Records(Some(TaskType::Text3d)))];
        let rehearsal = RecordedAgainst::of_base_url("http://user:pw@127.0.0.1:9000/proxy");
        assert_eq!(
            render(&entries, &rehearsal, Some(100)),
            "rehearsing against http://127.0.0.1:9000, not the real Meshy API; costs count as if paid, in case \
             it forwards to Meshy (balance: 100 credits):\n\
             \x20 otter_text3d  text3d         20 credits\n\
             \x20 total: 20 credits, leaving 80\n"
        );
        assert!(render(&entries, &RecordedAgainst::Rehearsal(None), None).starts_with(
            "rehearsing against another base URL, not the real Meshy API; costs count as if paid"
        ));
        assert_eq!(
            check(cost(&entries), Some(100), Some(10)),
            Err(PlanError::OverBudget {
                cost: 20,
                max_credits: 10
            })
        );
    }

    #[test]
    fn a_plan_over_the_limit_or_the_balance_is_refused() {
        let cost = Cost {
            known: 25,
            unknown: 1,
        };
        assert_eq!(check(cost, Some(100), Some(25)), Ok(()));
        let err = check(cost, Some(100), Some(20)).unwrap_err();
        assert_eq!(
            err,
            PlanError::OverBudget {
                cost: 25,
                max_credits: 20
            }
        );
        let err = err.to_string();
        assert!(
            err.starts_with(
                "refusing to record: the plan costs 25 credits, more than --max-credits=20"
            ),
            "{err}"
        );
        let err = check(cost, Some(10), None).unwrap_err();
        assert_eq!(
            err,
            PlanError::OverBalance {
                cost: 25,
                balance: 10
            }
        );
        let err = err.to_string();
        assert!(
            err.contains("the plan costs 25 credits and the account has 10"),
            "{err}"
        );
        assert_eq!(check(cost, None, None), Ok(()));
    }
}
