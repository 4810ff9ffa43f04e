//! A scripted stand-in for the Anthropic Messages API, for driving the real Claude Code CLI
//! (`ANTHROPIC_BASE_URL`).
//!
//! It answers `POST /v1/messages` with a streamed response (server-sent events in the order
//! the API sends them: `message_start` with the input usage, `ping`, `content_block_start` /
//! `content_block_delta` / `content_block_stop` per text or `tool_use` block, `message_delta`
//! with the stop reason and the final usage, `message_stop`) taken from a script, and records
//! every request it receives. Conversations are told apart by a marker in their first user
//! message (a subagent's first message is its prompt); each plays its own replies in order.
//! `POST /v1/messages/count_tokens` gets an estimate; anything else a 404 in the API's error
//! shape (and is recorded too). A request no reply was scripted for gets a short text reply and is marked
//! `unscripted`, so a test can fail on it.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// Token usage of one reply, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_write: u64,
    pub cache_read: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;
    fn add(self, other: Usage) -> Usage {
        Usage {
            input: self.input + other.input,
            output: self.output + other.output,
            cache_write: self.cache_write + other.cache_write,
            cache_read: self.cache_read + other.cache_read,
        }
    }
}

/// One content block of a reply.
#[derive(Debug, Clone)]
enum Block {
    Text(String),
    ToolUse { name: String, input: Value },
}

/// One scripted response: text and/or tool calls, and its usage.
#[derive(Debug, Clone)]
pub struct Reply {
    blocks: Vec<Block>,
    usage: Option<Usage>,
}

impl Reply {
    /// A text answer that ends the turn.
    pub fn text(text: &str) -> Reply {
        Reply {
            blocks: vec![Block::Text(text.to_owned())],
            usage: None,
        }
    }

    /// One tool call.
    pub fn tool(name: &str, input: Value) -> Reply {
        Reply::tools([(name, input)])
    }

    /// Several tool calls in one response (Claude Code runs the read-only ones in parallel).
    pub fn tools<'a>(calls: impl IntoIterator<Item = (&'a str, Value)>) -> Reply {
        Reply {
            blocks: calls
                .into_iter()
                .map(|(name, input)| Block::ToolUse {
                    name: name.to_owned(),
                    input,
                })
                .collect(),
            usage: None,
        }
    }

    /// The usage this reply reports (by default a distinct figure per reply).
    pub fn with_usage(mut self, usage: Usage) -> Reply {
        self.usage = Some(usage);
        self
    }

    fn calls_tools(&self) -> bool {
        self.blocks
            .iter()
            .any(|block| matches!(block, Block::ToolUse { .. }))
    }
}

/// The replies of each conversation.
#[derive(Debug, Default)]
pub struct Script {
    conversations: Vec<Conversation>,
}

#[derive(Debug)]
struct Conversation {
    /// Text in the first user message that selects this conversation; `None`: any other.
    marker: Option<String>,
    replies: VecDeque<Reply>,
}

impl Script {
    /// The main conversation's replies, in order.
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Script {
        Script {
            conversations: vec![Conversation {
                marker: None,
                replies: replies.into_iter().collect(),
            }],
        }
    }

    /// The replies of the conversation whose first user message contains `marker` (a
    /// subagent's prompt).
    pub fn conversation(mut self, marker: &str, replies: impl IntoIterator<Item = Reply>) -> Self {
        self.conversations.push(Conversation {
            marker: Some(marker.to_owned()),
            replies: replies.into_iter().collect(),
        });
        self
    }

    /// The conversation of a request body: the first whose marker its first user message
    /// holds, else the unmarked one.
    fn conversation_of(&self, body: &Value) -> Option<usize> {
        let first = body["messages"][0].to_string();
        let marked = self.conversations.iter().position(|c| {
            c.marker
                .as_deref()
                .is_some_and(|marker| first.contains(marker))
        });
        marked.or_else(|| self.conversations.iter().position(|c| c.marker.is_none()))
    }
}

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, e.g. `/v1/messages?beta=true`.
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub body: Value,
    /// For a Messages request: the marker of its conversation (`None`: the main one).
    pub conversation: Option<String>,
    /// For a Messages request: the usage of the reply it got.
    pub usage: Option<Usage>,
    /// A Messages request no reply was scripted for.
    pub unscripted: bool,
}

impl Request {
    /// A streamed Messages API call (not `count_tokens`).
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && path(&self.target) == "/v1/messages"
    }

    pub fn model(&self) -> Option<&str> {
        self.body["model"].as_str()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The `tool_result` blocks of the last user message: what the client sends back after
    /// the tools of the previous reply ran (system messages may follow it).
    pub fn tool_results(&self) -> Vec<ToolResult> {
        let Some(content) = self.body["messages"]
            .as_array()
            .and_then(|messages| messages.iter().rfind(|m| m["role"] == "user"))
            .and_then(|message| message["content"].as_array())
        else {
            return Vec::new();
        };
        content
            .iter()
            .filter(|block| block["type"] == "tool_result")
            .map(|block| ToolResult {
                tool_use_id: block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                text: text_of(&block["content"]),
                is_error: block["is_error"].as_bool().unwrap_or(false),
            })
            .collect()
    }
}

/// A tool's result as the client sent it to the API.
#[derive(Clone)]
pub struct ToolResult {
    pub tool_use_id: String,
    pub text: String,
    pub is_error: bool,
}

/// The start of the text only: a failing test's message stays readable.
impl std::fmt::Debug for ToolResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = self
            .text
            .char_indices()
            .nth(300)
            .map_or(self.text.len(), |(i, _)| i);
        f.debug_struct("ToolResult")
            .field("tool_use_id", &self.tool_use_id)
            .field("text", &&self.text[..end])
            .field("bytes", &self.text.len())
            .field("is_error", &self.is_error)
            .finish()
    }
}

/// The text of a `tool_result` content: a string, or the text blocks of an array.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn path(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

#[derive(Default)]
struct State {
    script: Script,
    requests: Vec<Request>,
    /// Replies served so far, numbering the default usage and the ids.
    served: u64,
}

/// The running stand-in; stops when dropped.
pub struct MessagesApi {
    url: String,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl MessagesApi {
    /// Listens on a free local port and plays `script`.
    pub fn start(script: Script) -> MessagesApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a local port for the stand-in");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            script,
            ..State::default()
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stopping) = (state.clone(), stopping.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        MessagesApi {
            url,
            state,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// The base URL for `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The Messages requests received so far.
    pub fn messages(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(Request::is_messages)
            .collect()
    }

    /// How many scripted replies were not asked for.
    pub fn unplayed(&self) -> usize {
        let state = self.state.lock().unwrap();
        state
            .script
            .conversations
            .iter()
            .map(|c| c.replies.len())
            .sum()
    }
}

impl Drop for MessagesApi {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Serves one connection: HTTP/1.1 requests until the client closes it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        if respond(request, state, &mut writer).is_err() {
            return;
        }
    }
}

/// Reads one request (`Content-Length` bodies, as the client sends them); `None` at the end
/// of the connection.
fn read_request(reader: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut words = line.split_whitespace();
    let (method, target) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (key, value) = line.split_once(':')?;
        headers.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    let length = headers
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        conversation: None,
        usage: None,
        unscripted: false,
    })
}

fn respond(request: Request, state: &Mutex<State>, out: &mut TcpStream) -> std::io::Result<()> {
    if request.is_messages() {
        let response = state.lock().unwrap().play(request);
        return response.stream(out);
    }
    let (status, body) = if request.method == "POST"
        && path(&request.target) == "/v1/messages/count_tokens"
    {
        // Roughly what the API would count: a token per four bytes of the request.
        let tokens = request.body.to_string().len() / 4;
        ("200 OK", json!({ "input_tokens": tokens }))
    } else {
        let message = format!("{} {} is not served here", request.method, request.target);
        (
            "404 Not Found",
            json!({ "type": "error", "error": { "type": "not_found_error", "message": message } }),
        )
    };
    state.lock().unwrap().requests.push(request);
    let body = body.to_string();
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

impl State {
    /// Picks the reply to a Messages request (recording the request with it).
    fn play(&mut self, mut request: Request) -> Response {
        self.served += 1;
        let id = self.served;
        let reply = self
            .script
            .conversation_of(&request.body)
            .and_then(|index| {
                let conversation = &mut self.script.conversations[index];
                request.conversation = conversation.marker.clone();
                conversation.replies.pop_front()
            });
        request.unscripted = reply.is_none();
        let reply = reply.unwrap_or_else(|| Reply::text("(the script has no reply here)"));
        let usage = reply.usage.unwrap_or(Usage {
            input: 1000 + 3 * id,
            output: 40 + 7 * id,
            cache_write: 2000 + 11 * id,
            cache_read: 9000 + 13 * id,
        });
        request.usage = Some(usage);
        let model = request.model().unwrap_or("unknown").to_owned();
        self.requests.push(request);
        Response {
            id,
            model,
            reply,
            usage,
        }
    }
}

/// A reply about to be streamed.
struct Response {
    /// Numbers the message, request and tool use ids.
    id: u64,
    model: String,
    reply: Reply,
    usage: Usage,
}

impl Response {
    /// Streams the reply as the API does: chunked server-sent events, one write each.
    fn stream(&self, out: &mut TcpStream) -> std::io::Result<()> {
        let id = self.id;
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
             cache-control: no-cache\r\nrequest-id: req_e2e{id:06}\r\n\
             transfer-encoding: chunked\r\n\r\n"
        )?;
        for event in self.events() {
            let frame = format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap()
            );
            write!(out, "{:x}\r\n{frame}\r\n", frame.len())?;
            out.flush()?;
        }
        out.write_all(b"0\r\n\r\n")?;
        out.flush()
    }

    /// The server-sent events of the reply, in the API's order.
    fn events(&self) -> Vec<Value> {
        let (id, usage) = (self.id, self.usage);
        let mut events = vec![
            json!({
                "type": "message_start",
                "message": {
                    "id": format!("msg_e2e{id:06}"),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {
                        "input_tokens": usage.input,
                        "cache_creation_input_tokens": usage.cache_write,
                        "cache_read_input_tokens": usage.cache_read,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": usage.cache_write,
                            "ephemeral_1h_input_tokens": 0
                        },
                        "output_tokens": 1,
                        "service_tier": "standard"
                    }
                }
            }),
            json!({ "type": "ping" }),
        ];
        for (index, block) in self.reply.blocks.iter().enumerate() {
            let (start, deltas): (Value, Vec<Value>) = match block {
                Block::Text(text) => (
                    json!({ "type": "text", "text": "" }),
                    halves(text)
                        .map(|part| json!({ "type": "text_delta", "text": part }))
                        .collect(),
                ),
                Block::ToolUse { name, input } => (
                    json!({
                        "type": "tool_use",
                        "id": format!("toolu_e2e{id:06}_{index}"),
                        "name": name,
                        "input": {}
                    }),
                    halves(&input.to_string())
                        .map(|part| json!({ "type": "input_json_delta", "partial_json": part }))
                        .collect(),
                ),
            };
            events.push(
                json!({ "type": "content_block_start", "index": index, "content_block": start }),
            );
            for delta in deltas {
                events
                    .push(json!({ "type": "content_block_delta", "index": index, "delta": delta }));
            }
            events.push(json!({ "type": "content_block_stop", "index": index }));
        }
        let stop_reason = if self.reply.calls_tools() {
            "tool_use"
        } else {
            "end_turn"
        };
        events.push(json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason, "stop_sequence": null },
            "usage": {
                "input_tokens": usage.input,
                "cache_creation_input_tokens": usage.cache_write,
                "cache_read_input_tokens": usage.cache_read,
                "output_tokens": usage.output
            }
        }));
        events.push(json!({ "type": "message_stop" }));
        events
    }
}

/// `text` in two parts split at a character boundary, so that clients must join deltas.
fn halves(text: &str) -> impl Iterator<Item = &str> {
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle += 1;
    }
    let (first, second) = text.split_at(middle);
    [first, second].into_iter().filter(|part| !part.is_empty())
}
