//! People in runs: approval gates, input prompts and consent for sensitive
//! steps. Each is a [`Request`] the executor puts to a [`Terminal`] when the
//! run has one; without one (or when nobody answers) the request is stored
//! and the run waits until `workflow approve|reject|answer RUN` records an
//! [`Answer`] from any shell, then `resume` continues with it.

pub mod answering;
pub mod notify;
pub mod terminal;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a run waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// An `approval-gate`: approve or reject, with an optional comment.
    Gate,
    /// An `interactive` step: a value of its input type.
    Input,
    /// Consent to run a sensitive step (shell, push, merge, file writes, make-changes).
    Consent,
}

impl RequestKind {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Gate => "gate",
            RequestKind::Input => "input",
            RequestKind::Consent => "consent",
        }
    }

    /// The kind named by a stored word.
    pub fn parse(word: &str) -> Option<RequestKind> {
        Some(match word {
            "gate" => RequestKind::Gate,
            "input" => RequestKind::Input,
            "consent" => RequestKind::Consent,
            _ => return None,
        })
    }
}

/// The input types of `interactive`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    /// One line of text.
    #[default]
    Text,
    /// One line, not echoed, never shown and never stored (see docs/actions.md).
    Password,
    /// Yes or no (a bool).
    Confirm,
    /// One of `choices`.
    Choice,
    /// Several lines, ended by a line holding only `.` (or end of input).
    Multiline,
}

impl InputType {
    /// The type named in YAML (`input-type:`).
    pub fn parse(word: &str) -> Option<InputType> {
        Some(match word {
            "text" => InputType::Text,
            "password" => InputType::Password,
            "confirm" => InputType::Confirm,
            "choice" => InputType::Choice,
            "multiline" => InputType::Multiline,
            _ => return None,
        })
    }
}

/// What an `interactive` step asks for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// The input type.
    pub input_type: InputType,
    /// The allowed answers of a `choice`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// The value taken when the person just presses Enter, or nobody answers in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// A regular expression the whole answer must match (text, password, multiline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// How long to wait for an answer at a terminal before taking the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

impl InputSpec {
    /// The value an answer typed as `text` stands for, or why it is not acceptable
    /// (said so a person can type a better one). An empty answer takes the default.
    pub fn accept(&self, text: &str) -> Result<Value, String> {
        let typed = if self.input_type == InputType::Multiline { text.trim_end_matches('\n') } else { text.trim() };
        if typed.is_empty() {
            if let Some(default) = &self.default {
                return Ok(default.clone());
            }
        }
        match self.input_type {
            InputType::Confirm => match typed.to_ascii_lowercase().as_str() {
                "y" | "yes" | "true" => Ok(Value::Bool(true)),
                "n" | "no" | "false" => Ok(Value::Bool(false)),
                _ => Err("answer yes or no".to_string()),
            },
            InputType::Choice => {
                if let Some(choice) = self.choices.iter().find(|c| c.as_str() == typed) {
                    return Ok(Value::String(choice.clone()));
                }
                // A choice may also be given by its number in the list (1-based).
                match typed.parse::<usize>() {
                    Ok(n) if (1..=self.choices.len()).contains(&n) => Ok(Value::String(self.choices[n - 1].clone())),
                    _ => Err(format!("choose one of: {}", self.choices.join(", "))),
                }
            }
            InputType::Text | InputType::Password | InputType::Multiline => {
                if let Some(pattern) = &self.pattern {
                    let anchored = format!("^(?:{pattern})$");
                    let re = regex::Regex::new(&anchored).map_err(|e| format!("the step's validation-pattern is not a valid regex: {e}"))?;
                    if !re.is_match(typed) {
                        return Err(format!("the answer must match `{pattern}`"));
                    }
                }
                Ok(Value::String(typed.to_string()))
            }
        }
    }
}

/// A question a run puts to a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Gate, input or consent.
    pub kind: RequestKind,
    /// The run.
    pub run_id: String,
    /// The workflow.
    pub workflow: String,
    /// The step asking.
    pub step_id: String,
    /// The step execution asking (an answer belongs to one execution: a gate in a loop asks each time).
    pub seq: u64,
    /// What to show: the gate's message, the prompt, or what the sensitive step will do.
    pub message: String,
    /// For `Input`: what is asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputSpec>,
    /// For `Consent`: the permission asked for, as matched by allow and deny patterns (`shell:cargo test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// For `Gate`: who may approve (empty: anyone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<String>,
    /// For `Gate`, in a workflow with `snapshot:` metrics: what the run has changed so far,
    /// measured when the gate asked (`state_now`, `delta`, `anomalies`), so a person sees it beside the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<Value>,
}

impl Request {
    /// Whether it asks for a password, whose answer is never stored (kept in memory for the run's steps).
    pub fn asks_for_password(&self) -> bool {
        self.kind == RequestKind::Input && self.input.as_ref().is_some_and(|i| i.input_type == InputType::Password)
    }
}

/// A person's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// Gate and consent: yes or no.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<bool>,
    /// Input: the value given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// A comment (a gate's reason, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Who answered.
    pub operator: String,
    /// When (Unix milliseconds).
    pub at_ms: u64,
}

/// How a terminal prompt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Asked {
    /// The person answered.
    Answered(Answer),
    /// Nobody answered within the input's timeout (the caller takes the default or waits).
    TimedOut,
    /// The terminal went away (end of input): the run waits for an answer from the CLI.
    Closed,
}

/// Asks people at a terminal. Blocking: the executor calls it on a blocking thread.
pub trait Terminal: Send + Sync {
    /// Puts `request` to the person at the terminal.
    fn ask(&self, request: &Request) -> Asked;
}

static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the program people type to answer a run (`workflow`, or a binary
/// made by `workflow build` such as `hello-bot`), for the hints the runtime
/// writes: "approve with `hello-bot approve RUN`". Set once, at start-up.
pub fn set_program_name(name: impl Into<String>) {
    let _ = PROGRAM.set(name.into());
}

/// The program named in hints to people: `workflow` unless [`set_program_name`] said otherwise.
pub fn program_name() -> &'static str {
    PROGRAM.get().map_or("workflow", String::as_str)
}

/// Now, as Unix milliseconds.
pub fn now_ms() -> u64 {
    crate::store::memory::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(input_type: InputType) -> InputSpec {
        InputSpec { input_type, ..InputSpec::default() }
    }

    #[test]
    fn confirm_takes_yes_and_no_words() {
        let confirm = spec(InputType::Confirm);
        assert_eq!(confirm.accept("Y").unwrap(), json!(true));
        assert_eq!(confirm.accept(" no ").unwrap(), json!(false));
        assert_eq!(confirm.accept("maybe").unwrap_err(), "answer yes or no");
    }

    #[test]
    fn a_choice_is_named_or_numbered() {
        let choice = InputSpec { choices: vec!["staging".into(), "production".into()], ..spec(InputType::Choice) };
        assert_eq!(choice.accept("production").unwrap(), json!("production"));
        assert_eq!(choice.accept("1").unwrap(), json!("staging"));
        assert_eq!(choice.accept("3").unwrap_err(), "choose one of: staging, production");
    }

    #[test]
    fn the_pattern_must_match_the_whole_answer_and_empty_takes_the_default() {
        let text = InputSpec { pattern: Some("[0-9]+".into()), default: Some(json!("7")), ..spec(InputType::Text) };
        assert_eq!(text.accept("42").unwrap(), json!("42"));
        assert_eq!(text.accept("42a").unwrap_err(), "the answer must match `[0-9]+`");
        assert_eq!(text.accept("").unwrap(), json!("7"));
    }
}
