//! The `command` provider: pipes the conversation to a local program (a
//! coding-agent CLI, say) and reads its answer from stdout.
//!
//! The program is started directly (no shell) for every request.
//!
//! * Without a placeholder, the whole conversation goes to its **stdin** as
//!   text, each message a `## system`, `## user` or `## assistant` header line
//!   followed by the message's content and a blank line:
//!
//!   ```text
//!   ## system
//!   You review pull requests.
//!
//!   ## user
//!   Review PR 12.
//!
//!   ```
//!
//! * When an argument contains `{prompt}`, the last user message replaces it
//!   (as part of that one argument, unsplit and unquoted) and stdin is empty.
//!   `{model}` in an argument is replaced by the requested model name.
//!
//! The requested model is also in the environment as `WORKFLOW_MODEL`. The
//! answer is everything the program writes to stdout (trailing newlines
//! removed); when streaming, stdout is forwarded as it arrives. A non-zero
//! exit is an error carrying the exit code and the last line of stderr.
//!
//! Usage is an **estimate**: a program reports no token counts, so input and
//! output tokens are counted as bytes / 4 (rounded up) of what was sent and
//! what came back.

use std::future::Future;
use std::pin::Pin;
use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, Stream, Usage};

/// A provider that runs a local program per request.
#[derive(Clone, Debug)]
pub struct CommandProvider {
    name: String,
    argv: Vec<String>,
}

impl CommandProvider {
    /// A provider named `name` running `argv` (program first).
    pub fn new(name: impl Into<String>, argv: Vec<String>) -> CommandProvider {
        CommandProvider { name: name.into(), argv }
    }

    /// The program and its arguments.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }
}

/// The conversation as the program reads it on stdin (see the module docs).
pub fn conversation_text(messages: &[Message]) -> String {
    let mut text = String::new();
    for m in messages {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        text.push_str("## ");
        text.push_str(role);
        text.push('\n');
        text.push_str(&m.content);
        if !m.content.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

/// Estimated tokens of a text: bytes / 4, rounded up.
pub fn estimate_tokens(bytes: usize) -> u64 {
    bytes.div_ceil(4) as u64
}

impl Provider for CommandProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(self.run(request, stream))
    }
}

impl CommandProvider {
    async fn run(&self, request: &ChatRequest, mut stream: Stream<'_>) -> Result<ChatResponse, ProviderError> {
        let Some(program) = self.argv.first() else {
            return Err(ProviderError::Other(format!("provider `{}`: no command configured", self.name)));
        };
        let placeholder = self.argv.iter().any(|a| a.contains("{prompt}"));
        let last_user = request.messages.iter().rev().find(|m| matches!(m.role, Role::User)).map(|m| m.content.as_str()).unwrap_or("");
        let args: Vec<String> = self.argv[1..].iter().map(|a| a.replace("{prompt}", last_user).replace("{model}", &request.model)).collect();
        let input = if placeholder { String::new() } else { conversation_text(&request.messages) };
        let sent = if placeholder { last_user.len() } else { input.len() };

        let mut child = tokio::process::Command::new(program)
            .args(&args)
            .env("WORKFLOW_MODEL", &request.model)
            .stdin(if placeholder { Stdio::null() } else { Stdio::piped() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ProviderError::Other(format!("provider `{}`: cannot start `{program}`: {e}", self.name)))?;

        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");

        // Feed stdin, drain stdout and stderr together: a program may answer
        // before it has read all its input.
        let write = async move {
            if let Some(mut stdin) = stdin {
                // A program that exits without reading its input is not an error here.
                let _ = stdin.write_all(input.as_bytes()).await;
                let _ = stdin.shutdown().await;
            }
        };
        let read_out = async {
            let mut out: Vec<u8> = Vec::new();
            let mut forwarded = 0usize;
            let mut buf = [0u8; 8192];
            loop {
                let n = stdout.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&buf[..n]);
                if let Some(sink) = stream.as_mut() {
                    // Forward only whole UTF-8 characters.
                    let pending = &out[forwarded..];
                    let valid = match std::str::from_utf8(pending) {
                        Ok(s) => s.len(),
                        Err(e) if e.error_len().is_none() => e.valid_up_to(),
                        Err(_) => pending.len(),
                    };
                    if valid > 0 {
                        sink(&String::from_utf8_lossy(&pending[..valid]));
                        forwarded += valid;
                    }
                }
            }
            if let Some(sink) = stream.as_mut() {
                if forwarded < out.len() {
                    sink(&String::from_utf8_lossy(&out[forwarded..]));
                }
            }
            Ok::<_, std::io::Error>(out)
        };
        let read_err = async {
            let mut err = Vec::new();
            stderr.read_to_end(&mut err).await.map(|_| err)
        };
        let ((), out, err) = tokio::join!(write, read_out, read_err);
        let io_error = |e: std::io::Error| ProviderError::Other(format!("provider `{}`: reading from `{program}`: {e}", self.name));
        let out = out.map_err(io_error)?;
        let err = err.map_err(io_error)?;
        let status = child.wait().await.map_err(io_error)?;

        if !status.success() {
            let err = String::from_utf8_lossy(&err);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            let code = match status.code() {
                Some(code) => format!("exit code {code}"),
                None => "no exit code (killed by a signal)".to_string(),
            };
            let detail = if last.is_empty() { String::new() } else { format!(": {last}") };
            return Err(ProviderError::Other(format!("provider `{}`: `{program}` failed with {code}{detail}", self.name)));
        }

        let mut content = String::from_utf8_lossy(&out).into_owned();
        while content.ends_with('\n') || content.ends_with('\r') {
            content.pop();
        }
        let usage = Usage { input_tokens: estimate_tokens(sent), output_tokens: estimate_tokens(out.len()) };
        Ok(ChatResponse { content, usage, model: request.model.clone() })
    }
}
