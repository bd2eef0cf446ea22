//! Outcomes on request: rules that make matching simulated tasks fail, get canceled,
//! run slowly, or have their webhooks duplicated or reordered — chosen by the
//! simulator's configuration (or its `POST /_sim/rules` control route), never by
//! anything a client would also send to the real API.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::meshy::TaskType;

/// [`task_time`] of a number of seconds written as text (a flag, a variable).
pub fn task_time_text(text: &str) -> Option<Duration> {
    text.trim().parse::<f64>().ok().and_then(task_time)
}

fn checked_task_seconds<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    let seconds = Option::<f64>::deserialize(deserializer)?;
    match seconds {
        Some(s) if task_time(s).is_none() => Err(serde::de::Error::custom(format!(
            "task_seconds = {s} is not a number of seconds from 0 to {MAX_TASK_SECONDS} (a day)"
        ))),
        other => Ok(other),
    }
}

/// The longest task time a simulator run, rule or scenario may ask for: a day.
pub const MAX_TASK_SECONDS: f64 = 86_400.0;

/// A task time from outside (a flag, a variable, a rule, a scenario): seconds from 0 to
/// [`MAX_TASK_SECONDS`]; `None` for anything else (`inf`, `nan`, `-1`, `1e300`).
pub fn task_time(seconds: f64) -> Option<Duration> {
    (0.0..=MAX_TASK_SECONDS)
        .contains(&seconds)
        .then(|| Duration::try_from_secs_f64(seconds).ok())
        .flatten()
}

/// How a simulated task ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    #[default]
    Succeeded,
    Failed,
    Canceled,
}

/// What happens to a task. Default: it succeeds in the simulator's task time, with
/// each update delivered once, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    pub outcome: Outcome,
    /// The `task_error` of a failed task. Default: a documented `server_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_error: Option<Value>,
    /// Overrides the simulator's task time (a slow task): 0 to [`MAX_TASK_SECONDS`],
    /// checked when read (rules file, `POST /_sim/rules`, a scenario's `[simulator]`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "checked_task_seconds"
    )]
    pub task_seconds: Option<f64>,
    /// Deliver every update twice.
    pub duplicate_deliveries: bool,
    /// Deliver the last IN_PROGRESS update after the terminal one.
    pub out_of_order_deliveries: bool,
    /// Answer the create call with this status (a `502` says `Bad Gateway`) although
    /// the task was created and charged: a gateway that lost Meshy's answer, to
    /// rehearse an ambiguous create. The task runs and delivers its webhooks as usual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_status: Option<u16>,
    /// The API version this task's bodies and stream follow (`v2025.11.18` for the
    /// November 2025 shapes). Default: the simulator's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<super::ApiVersion>,
}

impl Behaviour {
    /// The `task_error` object a failed task carries.
    pub fn task_error(&self) -> Value {
        self.task_error.clone().unwrap_or_else(|| {
            json!({
                "type": "server_error",
                "code": "timeout",
                "message": "The task could not be completed in time. Please try again.",
            })
        })
    }
}

/// A behaviour for the tasks a rule matches. Every condition given must hold; a rule
/// with none matches every task. The first matching rule wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Matches when the request's `prompt` (or `texture_prompt`, `text_style_prompt`)
    /// contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_type: Option<TaskType>,
    #[serde(default)]
    pub then: Behaviour,
}

impl Rule {
    pub fn matches(&self, task_type: TaskType, request: &Value) -> bool {
        let type_ok = self.task_type.is_none_or(|t| t == task_type);
        let prompt_ok = self.prompt_contains.as_deref().is_none_or(|needle| {
            ["prompt", "texture_prompt", "text_style_prompt"]
                .iter()
                .filter_map(|field| request.get(field)?.as_str())
                .any(|text| text.contains(needle))
        });
        type_ok && prompt_ok
    }
}

/// The behaviour of the first rule matching a request, or the default.
pub fn behaviour_for(rules: &[Rule], task_type: TaskType, request: &Value) -> Behaviour {
    rules
        .iter()
        .find(|rule| rule.matches(task_type, request))
        .map(|rule| rule.then.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_time_outside_a_day_is_refused_wherever_it_is_read() {
        for bad in ["1e300", "-1", "86401"] {
            let json = format!(r#"{{"then": {{"task_seconds": {bad}}}}}"#);
            let err = serde_json::from_str::<Rule>(&json).unwrap_err().to_string();
            assert!(
                err.contains("is not a number of seconds from 0 to 86400 (a day)"),
                "{bad}: {err}"
            );
        }
        let toml_inf: Result<Behaviour, _> = toml::from_str("task_seconds = inf");
        assert!(toml_inf.is_err(), "inf from a TOML file");
        let ok: Rule = serde_json::from_str(r#"{"then": {"task_seconds": 0.5}}"#).unwrap();
        assert_eq!(ok.then.task_seconds, Some(0.5));
        assert_eq!(task_time(86_400.0), Some(Duration::from_secs(86_400)));
        assert_eq!(task_time(f64::NAN), None);
    }

    #[test]
    fn first_matching_rule_wins_and_conditions_combine() {
        let rules: Vec<Rule> = serde_json::from_value(json!([
            {"prompt_contains": "cursed", "task_type": "text3d", "then": {"outcome": "failed"}},
            {"prompt_contains": "cursed", "then": {"outcome": "canceled"}},
            {"task_type": "rigging", "then": {"task_seconds": 30}}
        ]))
        .unwrap();
        let text = json!({"prompt": "a cursed otter"});
        assert_eq!(
            behaviour_for(&rules, TaskType::Text3d, &text).outcome,
            Outcome::Failed
        );
        assert_eq!(
            behaviour_for(&rules, TaskType::TextToImage, &text).outcome,
            Outcome::Canceled
        );
        let rig = behaviour_for(&rules, TaskType::Rigging, &json!({}));
        assert_eq!(rig.task_seconds, Some(30.0));
        assert_eq!(
            behaviour_for(&rules, TaskType::Text3d, &json!({"prompt": "otter"})),
            Behaviour::default()
        );
    }

    #[test]
    fn unknown_rule_fields_are_refused() {
        let err =
            serde_json::from_value::<Rule>(json!({"then": {"outcome": "failed", "colour": 1}}))
                .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }
}
