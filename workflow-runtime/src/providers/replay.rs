//! Recorded answers: [`ReplayProvider`] plays them from a cassette file,
//! [`RecordingProvider`] writes one from real calls. Deterministic tests of a
//! workflow, and the offline default of the demo.
//!
//! A cassette is YAML:
//!
//! ```yaml
//! interactions:
//!   - request:
//!       model: claude-sonnet-4-5
//!       hash: 3f1c…            # SHA-256 of the conversation (roles and contents)
//!       last-message: "Review PR 12."   # the last user message, for people to read
//!     response:
//!       content: "Looks good."
//!       model: claude-sonnet-4-5
//!       usage: { input-tokens: 120, output-tokens: 8 }
//! ```
//!
//! A request is answered by the first not yet played interaction with the
//! same model and conversation hash (once all of them have played, the last
//! one again). Anything else is an error: the cassette must be re-recorded.
//! Cassettes hold requests and answers only: API keys are never in a
//! request, so they never reach a cassette.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ChatRequest, ChatResponse, Message, Provider, ProviderError, Role, Stream, Usage};

/// A cassette: recorded interactions, in the order they happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cassette {
    /// The interactions.
    #[serde(default)]
    pub interactions: Vec<Interaction>,
}

/// One request and its answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Interaction {
    /// What was asked.
    pub request: RecordedRequest,
    /// What came back.
    pub response: RecordedResponse,
}

/// A request, as matched on replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordedRequest {
    /// The model asked.
    pub model: String,
    /// [`messages_hash`] of the conversation.
    pub hash: String,
    /// The last user message, for people reading the cassette (not matched).
    #[serde(default)]
    pub last_message: String,
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordedResponse {
    /// The answer's text.
    pub content: String,
    /// Tokens used.
    #[serde(default)]
    pub usage: RecordedUsage,
    /// The model that answered.
    pub model: String,
}

/// Token usage as stored in a cassette.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RecordedUsage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// A cassette that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CassetteError {
    /// Reading failed.
    #[error("{}: cannot read the cassette: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The YAML is malformed.
    #[error("{}:{line}:{column}: not a cassette: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// Writing failed.
    #[error("{}: cannot write the cassette: {message}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl From<CassetteError> for ProviderError {
    fn from(e: CassetteError) -> ProviderError {
        ProviderError::Other(e.to_string())
    }
}

impl Cassette {
    /// Reads a cassette file.
    pub fn read(path: &Path) -> Result<Cassette, CassetteError> {
        let text = std::fs::read_to_string(path).map_err(|source| CassetteError::Read { path: path.to_path_buf(), source })?;
        if text.trim().is_empty() {
            return Ok(Cassette::default());
        }
        serde_saphyr::from_str(&text).map_err(|err| {
            let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            let message = err.to_string().lines().next().unwrap_or_default().to_string();
            CassetteError::Parse { path: path.to_path_buf(), line, column, message }
        })
    }

    /// Writes the cassette atomically: a temporary file beside it, then a rename.
    pub fn write(&self, path: &Path) -> Result<(), CassetteError> {
        let fail = |message: String| CassetteError::Write { path: path.to_path_buf(), message };
        let text = serde_saphyr::to_string(self).map_err(|e| fail(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "cassette".to_string());
        let tmp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).map_err(|e| fail(e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail(e.to_string())
        })
    }
}

/// The hex SHA-256 of a conversation: each message's role and content,
/// length-prefixed so that no two conversations share an encoding.
pub fn messages_hash(messages: &[Message]) -> String {
    let mut hasher = Sha256::new();
    for m in messages {
        let role: &[u8] = match m.role {
            Role::System => b"system",
            Role::User => b"user",
            Role::Assistant => b"assistant",
        };
        hasher.update(role);
        hasher.update((m.content.len() as u64).to_le_bytes());
        hasher.update(m.content.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn last_user_message(request: &ChatRequest) -> &str {
    request.messages.iter().rev().find(|m| matches!(m.role, Role::User)).map(|m| m.content.as_str()).unwrap_or("")
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        format!("{}…", one_line.chars().take(max).collect::<String>())
    }
}

/// Plays recorded answers from a cassette.
#[derive(Debug)]
pub struct ReplayProvider {
    name: String,
    path: PathBuf,
    cassette: Cassette,
    played: Mutex<Vec<bool>>,
}

impl ReplayProvider {
    /// Opens a cassette file; the provider is named `replay`.
    pub fn open(cassette_path: impl AsRef<Path>) -> Result<ReplayProvider, CassetteError> {
        let path = cassette_path.as_ref().to_path_buf();
        let cassette = Cassette::read(&path)?;
        Ok(ReplayProvider::new("replay", path, cassette))
    }

    /// A provider named `name` playing `cassette` (`path` is named in errors).
    pub fn new(name: impl Into<String>, path: PathBuf, cassette: Cassette) -> ReplayProvider {
        let played = Mutex::new(vec![false; cassette.interactions.len()]);
        ReplayProvider { name: name.into(), path, cassette, played }
    }

    fn answer(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let hash = messages_hash(&request.messages);
        let matching: Vec<usize> =
            self.cassette.interactions.iter().enumerate().filter(|(_, i)| i.request.model == request.model && i.request.hash == hash).map(|(n, _)| n).collect();
        let mut played = self.played.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&chosen) = matching.iter().find(|&&n| !played[n]).or(matching.last()) else {
            return Err(ProviderError::Other(format!(
                "no recorded answer for this request (model {}, last message: \"{}\") in the cassette {}; \
                 the workflow or its inputs changed since it was recorded: re-record it by running with `--record` \
                 against the real provider (or delete the cassette and record again)",
                request.model,
                shorten(last_user_message(request), 80),
                self.path.display()
            )));
        };
        played[chosen] = true;
        let r = &self.cassette.interactions[chosen].response;
        let usage = Usage { input_tokens: r.usage.input_tokens, output_tokens: r.usage.output_tokens };
        Ok(ChatResponse { content: r.content.clone(), usage, model: r.model.clone() })
    }
}

impl Provider for ReplayProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        let answer = self.answer(request);
        Box::pin(async move {
            let answer = answer?;
            if let Some(sink) = stream {
                sink(&answer.content);
            }
            Ok(answer)
        })
    }
}

/// Forwards to a real provider and records every answered request into a
/// cassette file, rewritten atomically after each one.
pub struct RecordingProvider {
    inner: Arc<dyn Provider>,
    path: PathBuf,
    cassette: Mutex<Cassette>,
}

impl RecordingProvider {
    /// Records a fresh cassette at `cassette_path` (an existing one is
    /// replaced once the first answer arrives).
    pub fn new(inner: Arc<dyn Provider>, cassette_path: impl AsRef<Path>) -> RecordingProvider {
        RecordingProvider { inner, path: cassette_path.as_ref().to_path_buf(), cassette: Mutex::new(Cassette::default()) }
    }

    /// Records after the interactions already in `cassette_path` (if it exists).
    pub fn append(inner: Arc<dyn Provider>, cassette_path: impl AsRef<Path>) -> Result<RecordingProvider, CassetteError> {
        let path = cassette_path.as_ref().to_path_buf();
        let cassette = if path.exists() { Cassette::read(&path)? } else { Cassette::default() };
        Ok(RecordingProvider { inner, path, cassette: Mutex::new(cassette) })
    }

    /// The cassette file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record(&self, request: &ChatRequest, response: &ChatResponse) -> Result<(), CassetteError> {
        let interaction = Interaction {
            request: RecordedRequest {
                model: request.model.clone(),
                hash: messages_hash(&request.messages),
                // A cassette is a file people share: the secrets the run knows are masked in it.
                last_message: crate::secrets::mask(last_user_message(request)).into_owned(),
            },
            response: RecordedResponse {
                content: crate::secrets::mask(&response.content).into_owned(),
                usage: RecordedUsage { input_tokens: response.usage.input_tokens, output_tokens: response.usage.output_tokens },
                model: response.model.clone(),
            },
        };
        let mut cassette = self.cassette.lock().unwrap_or_else(|e| e.into_inner());
        cassette.interactions.push(interaction);
        cassette.write(&self.path)
    }
}

impl Provider for RecordingProvider {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn chat<'a>(&'a self, request: &'a ChatRequest, stream: Stream<'a>) -> Pin<Box<dyn Future<Output = Result<ChatResponse, ProviderError>> + Send + 'a>> {
        Box::pin(async move {
            let response = self.inner.chat(request, stream).await?;
            self.record(request, &response)?;
            Ok(response)
        })
    }
}
