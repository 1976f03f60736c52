//! `workflow new NAME --describe TEXT`: a model drafts the file; the
//! checker's report goes back to it, in the same conversation, until a draft
//! is valid or the rounds are used up.

use super::{check, prompt, refuse, Args};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use workflow_core::read::ReadOptions;
use workflow_runtime::models::{cost_usd, resolve, ModelRef};
use workflow_runtime::providers::{ChatRequest, Message, Role, Usage};

/// How many drafts the model may make when `--rounds` does not say.
const DEFAULT_ROUNDS: u32 = 3;

/// The valid file the model drafted, or the exit code when there is none
/// (the reason is already printed).
pub fn draft(args: &Args, name: &str, description: &str, path: &Path, options: &ReadOptions) -> anyhow::Result<Result<String, ExitCode>> {
    let cwd = std::env::current_dir()?;
    let models = super::super::run::model_runtime(&cwd)?;
    let Some(wanted) = args.model.as_deref().or(models.config().default.as_deref()) else {
        return Ok(Err(refuse(
            "no model to draft with: give --model (for example --model openai:gpt-4o), or set `default:` in the model config (docs/models.md)",
        )));
    };
    let model = match resolve(models.config(), &BTreeMap::new(), wanted) {
        Ok(model) => model,
        Err(e) => return Ok(Err(refuse(&e.to_string()))),
    };
    let provider = models.provider(&model.provider).map_err(anyhow::Error::msg)?;
    let runtime = super::super::run::runtime()?;

    let mut conversation = vec![
        Message { role: Role::System, content: prompt::system(&options.custom_actions) },
        Message { role: Role::User, content: prompt::task(name, description) },
    ];
    let mut usage = Usage::default();
    let rounds = args.rounds.unwrap_or(DEFAULT_ROUNDS);
    eprintln!("drafting `{name}` with {model} (at most {})", count(rounds as usize, "round"));
    for round in 1..=rounds {
        let request = ChatRequest { model: model.model.clone(), messages: conversation.clone(), max_tokens: None, temperature: None, json: false };
        let answer = runtime.block_on(provider.chat(&request, None))?;
        usage.input_tokens += answer.usage.input_tokens;
        usage.output_tokens += answer.usage.output_tokens;
        let text = yaml_of(&answer.content);
        conversation.push(Message { role: Role::Assistant, content: answer.content });
        let mut diags = match check(name, path, &text, options) {
            Ok(()) => {
                eprintln!("round {round}: valid");
                eprintln!("{}", spent(&models, &model, usage));
                return Ok(Ok(text));
            }
            Err(diags) => diags,
        };
        diags.sort();
        let errors = count(diags.len(), "error");
        if round < rounds {
            eprintln!("round {round}: {errors}, asking again");
            conversation.push(Message { role: Role::User, content: prompt::correction(&diags.render()) });
        } else {
            eprintln!("round {round}: {errors}; no valid draft after {}, nothing written\n", count(rounds as usize, "round"));
            eprint!("{}", diags.render());
            eprintln!("{}", spent(&models, &model, usage));
        }
    }
    Ok(Err(ExitCode::from(super::EXIT_INVALID)))
}

/// The workflow in a model's answer: its first ```yaml (or ```yml) block,
/// else its first fenced block, else the whole answer (a bare file). An
/// unclosed fence (a cut-off answer) runs to the end.
fn yaml_of(answer: &str) -> String {
    let mut blocks: Vec<(&str, String)> = Vec::new();
    let mut open: Option<(&str, String)> = None;
    for line in answer.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => open = Some((info.trim(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks.extend(open);
    let yaml = blocks.iter().position(|(info, _)| matches!(info.to_ascii_lowercase().as_str(), "yaml" | "yml"));
    match yaml.or(if blocks.is_empty() { None } else { Some(0) }) {
        Some(i) => blocks.swap_remove(i).1,
        None => format!("{}\n", answer.trim()),
    }
}

/// `used N tokens (M in, K out) of MODEL`, with the cost when the model is priced.
fn spent(models: &workflow_runtime::models::ModelRuntime, model: &ModelRef, usage: Usage) -> String {
    let cost = cost_usd(models.config(), model, usage).map(|usd| format!(", ${usd:.4}")).unwrap_or_default();
    format!("used {} tokens ({} in, {} out) of {model}{cost}", usage.input_tokens + usage.output_tokens, usage.input_tokens, usage.output_tokens)
}

/// `1 error`, `2 errors`.
fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::yaml_of;

    #[test]
    fn the_yaml_block_is_taken_from_an_answer_with_prose_and_other_blocks() {
        let answer = "Here it is:\n```sh\nworkflow run x\n```\n```yaml\nname: x\nsteps: []\n```\nEnjoy.";
        assert_eq!(yaml_of(answer), "name: x\nsteps: []\n");
    }

    #[test]
    fn a_bare_or_unlabelled_or_cut_off_answer_is_read_too() {
        assert_eq!(yaml_of("  name: x\nsteps: []  \n"), "name: x\nsteps: []\n");
        assert_eq!(yaml_of("```\nname: x\n```"), "name: x\n");
        assert_eq!(yaml_of("```yml\nname: x\nsteps:"), "name: x\nsteps:\n");
    }
}
