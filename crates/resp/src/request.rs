//! Requests: the client-to-server half of RESP2, parsed without copying.
//!
//! Two forms reach a Redis server. Every library sends the multibulk form;
//! people at `redis-cli`/`telnet` type the inline one.
//!
//! ```text
//!   multibulk   *3\r\n $3\r\n SET\r\n $1\r\n k\r\n $5\r\n hello\r\n
//!               │      │      └ bytes, binary-safe (CRLF inside is data)
//!               │      └ $<len>: decimal, 0..=512 MB
//!               └ *<n>: decimal argument count; n <= 0 is an empty command
//!
//!   inline      SET k "a b"\r\n        one line, split like sdssplitargs:
//!                                       spaces separate, "..." with \xHH \n
//!                                       escapes, '...' with \' only
//! ```
//!
//! The parser is sans-IO and stateless between requests: [`RequestParser::parse`]
//! is handed everything buffered so far and either finds a whole request at
//! the front (`Parsed::Request`, with the bytes it used), finds none yet
//! (`Parsed::Incomplete`: nothing consumed, call again with more), or
//! reports garbage ([`RequestError`]). A multibulk request's arguments are
//! borrowed slices of the input, located by ranges kept in a `Vec` the
//! parser reuses, so parsing allocates nothing once warm.
//!
//! An argument longer than [`MAX_ARG_LEN`], or one that takes the request
//! past [`MAX_REQUEST_LEN`], is never buffered: the parser reports
//! [`Parsed::Oversized`] as soon as its `$` line has arrived, with a [`Skip`]
//! that discards the rest of that request piece by piece as it arrives.
//!
//! Two Redis habits are kept on purpose, for byte-identical behaviour on
//! odd input: the two bytes after a bulk are skipped without being checked
//! (Redis does not check them either), and a `*`/`$` line ends at its `\r`
//! with the byte after it taken as the `\n`.

use std::ops::Range;

use dc_ops::MAX_VALUE_LEN;

use crate::error::RequestError;
use dc_ops::number::parse_i64;

/// Most arguments in one command (the command name included). More is a
/// protocol error (Redis allows 1 Mi; no cache command needs more than a
/// handful, and the ranges are kept per argument).
pub const MAX_ARGS: usize = 1024;

/// Longest argument buffered: the largest value the front door stores.
/// A longer one is skipped as it arrives and the command refused.
pub const MAX_ARG_LEN: usize = MAX_VALUE_LEN;

/// Most bytes one multibulk request may take (headers and arguments):
/// past it the rest of the request is skipped and the command refused.
/// Room for the largest value and key with their framing, and below the
/// server's 64 KiB input buffer, which must hold a whole request.
pub const MAX_REQUEST_LEN: usize = 48 * 1024;

/// Longest `*`/`$` line or inline command (Redis's `PROTO_INLINE_MAX_SIZE`
/// is 64 KiB; ours stays below the server's 64 KiB input buffer, which
/// must hold the whole line).
pub const MAX_HEADER_LEN: usize = 48 * 1024;

/// Largest `$` length that is not a protocol error (Redis's default
/// `proto-max-bulk-len`, 512 MB). Lengths up to it are skipped, not refused.
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;

/// One parsed command: its arguments, the name first.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    base: &'a [u8],
    args: &'a [Range<usize>],
}

impl<'a> Request<'a> {
    /// How many arguments, the command name included (at least 1).
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// Never true: an empty command is [`Parsed::Empty`].
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Argument `i` (0 is the command name), or empty past the end.
    pub fn arg(&self, i: usize) -> &'a [u8] {
        match self.args.get(i) {
            Some(r) => self.base.get(r.clone()).unwrap_or(&[]),
            None => &[],
        }
    }

    /// The command name as sent.
    pub fn name(&self) -> &'a [u8] {
        self.arg(0)
    }

    /// The arguments after the name.
    pub fn rest(&self) -> impl Iterator<Item = &'a [u8]> + Clone + '_ {
        (1..self.len()).map(move |i| self.arg(i))
    }
}

/// The outcome of [`RequestParser::parse`].
#[derive(Debug)]
pub enum Parsed<'a> {
    /// No whole request at the front yet; nothing consumed.
    Incomplete,
    /// A whole request.
    Request {
        /// The command.
        request: Request<'a>,
        /// Input bytes it took.
        consumed: usize,
    },
    /// An empty command (`*0`, `*-1`, a blank inline line): Redis ignores
    /// it without an answer.
    Empty {
        /// Input bytes it took.
        consumed: usize,
    },
    /// A request with an argument too large to buffer: `consumed` bytes
    /// (up to the end of that argument's `$` line) are used up, and `skip`
    /// discards the rest.
    Oversized {
        /// Input bytes used up.
        consumed: usize,
        /// What remains to discard.
        skip: Skip,
    },
}

/// The rest of a refused request, discarded as it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    /// Bytes left of the current argument, its CRLF included.
    bulk_left: u64,
    /// Arguments after the current one.
    args_left: usize,
    /// Why: the oversized argument's length, or 0 when the request as a
    /// whole was over [`MAX_REQUEST_LEN`].
    pub arg_len: u64,
}

/// How far a [`Skip`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// This many bytes were discarded (maybe 0: more input is needed);
    /// the request goes on.
    More(usize),
    /// This many bytes were discarded and the request is over: answer it.
    Done(usize),
}

impl Skip {
    /// Discards what it can of the refused request from the front of
    /// `input`. The arguments after the oversized one must still be
    /// well-framed: their `$` lines are read (their bodies skipped).
    pub fn advance(&mut self, input: &[u8]) -> Result<Skipped, RequestError> {
        let mut at = 0usize;
        loop {
            if self.bulk_left > 0 {
                let avail = (input.len() - at) as u64;
                let n = avail.min(self.bulk_left);
                self.bulk_left -= n;
                at += n as usize;
                if self.bulk_left > 0 {
                    return Ok(Skipped::More(at));
                }
            }
            if self.args_left == 0 {
                return Ok(Skipped::Done(at));
            }
            match bulk_header(input, at)? {
                None => return Ok(Skipped::More(at)),
                Some((len, next)) => {
                    self.args_left -= 1;
                    self.bulk_left = len as u64 + 2;
                    at = next;
                }
            }
        }
    }
}

/// The request parser. It keeps no state between requests, only buffers
/// it reuses: the argument ranges, and the unescaped text of an inline
/// command.
#[derive(Debug, Default, Clone)]
pub struct RequestParser {
    args: Vec<Range<usize>>,
    inline: Vec<u8>,
}

impl RequestParser {
    /// A parser.
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Parses the request at the front of `input`.
    pub fn parse<'a>(&'a mut self, input: &'a [u8]) -> Result<Parsed<'a>, RequestError> {
        match input.first() {
            None => Ok(Parsed::Incomplete),
            Some(b'*') => self.multibulk(input),
            Some(_) => self.inline(input),
        }
    }

    fn multibulk<'a>(&'a mut self, input: &'a [u8]) -> Result<Parsed<'a>, RequestError> {
        let Some(cr) = line_end(input, 1) else {
            return if input.len() > MAX_HEADER_LEN {
                Err(RequestError::MultibulkLineTooLong)
            } else {
                Ok(Parsed::Incomplete)
            };
        };
        let count = parse_i64(&input[1..cr]).ok_or(RequestError::MultibulkLength)?;
        let mut at = cr + 2;
        if count <= 0 {
            return Ok(Parsed::Empty { consumed: at });
        }
        if count > MAX_ARGS as i64 {
            return Err(RequestError::TooManyArguments { count });
        }
        let count = count as usize;
        self.args.clear();
        for i in 0..count {
            let Some((len, body)) = bulk_header(input, at)? else {
                return Ok(Parsed::Incomplete);
            };
            let too_long = len > MAX_ARG_LEN;
            if too_long || body + len > MAX_REQUEST_LEN {
                let skip = Skip {
                    bulk_left: len as u64 + 2,
                    args_left: count - i - 1,
                    arg_len: if too_long { len as u64 } else { 0 },
                };
                return Ok(Parsed::Oversized {
                    consumed: body,
                    skip,
                });
            }
            if input.len() < body + len + 2 {
                return Ok(Parsed::Incomplete);
            }
            self.args.push(body..body + len);
            at = body + len + 2;
        }
        Ok(Parsed::Request {
            request: Request {
                base: input,
                args: &self.args,
            },
            consumed: at,
        })
    }

    fn inline<'a>(&'a mut self, input: &'a [u8]) -> Result<Parsed<'a>, RequestError> {
        let Some(nl) = input.iter().position(|&b| b == b'\n') else {
            return if input.len() > MAX_HEADER_LEN {
                Err(RequestError::InlineTooLong)
            } else {
                Ok(Parsed::Incomplete)
            };
        };
        let mut line = &input[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.args.clear();
        self.inline.clear();
        split_args(line, &mut self.inline, &mut self.args)?;
        let consumed = nl + 1;
        if self.args.is_empty() {
            return Ok(Parsed::Empty { consumed });
        }
        if self.args.len() > MAX_ARGS {
            return Err(RequestError::TooManyArguments {
                count: self.args.len() as i64,
            });
        }
        Ok(Parsed::Request {
            request: Request {
                base: &self.inline,
                args: &self.args,
            },
            consumed,
        })
    }
}

/// The `\r` ending a `*`/`$` line that starts at `from`, if it and one byte
/// after it (taken as the `\n`, unchecked, as Redis does) have arrived.
fn line_end(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    let cr = from + rest.iter().position(|&b| b == b'\r')?;
    (cr + 1 < input.len()).then_some(cr)
}

/// Reads the `$<len>` line at `at`: the length and where the body starts,
/// `None` while incomplete.
fn bulk_header(input: &[u8], at: usize) -> Result<Option<(usize, usize)>, RequestError> {
    let Some(&first) = input.get(at) else {
        return Ok(None);
    };
    if first != b'$' {
        return Err(RequestError::ExpectedDollar(first));
    }
    let Some(cr) = line_end(input, at + 1) else {
        return if input.len() - at > MAX_HEADER_LEN {
            Err(RequestError::BulkLineTooLong)
        } else {
            Ok(None)
        };
    };
    match parse_i64(&input[at + 1..cr]) {
        Some(len) if (0..=MAX_BULK_LEN).contains(&len) => Ok(Some((len as usize, cr + 2))),
        _ => Err(RequestError::BulkLength),
    }
}

/// Redis's `sdssplitargs`, faithfully (including that a NUL byte ends the
/// line and that a quote inside a word opens a quoted part): unescaped
/// arguments are appended to `text`, their places to `args`.
fn split_args(
    line: &[u8],
    text: &mut Vec<u8>,
    args: &mut Vec<Range<usize>>,
) -> Result<(), RequestError> {
    // C's isspace in the "C" locale.
    fn space(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    // The line as a C string: 0 past the end, and at an embedded NUL.
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut p = 0usize;
    loop {
        while at(p) != 0 && space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Ok(());
        }
        let start = text.len();
        let (mut inq, mut insq) = (false, false);
        loop {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex(at(p + 2)), hex(at(p + 3))) {
                        text.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    text.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !space(at(p + 1)) {
                        return Err(RequestError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(RequestError::UnbalancedQuotes);
                } else {
                    text.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    text.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !space(at(p + 1)) {
                        return Err(RequestError::UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(RequestError::UnbalancedQuotes);
                } else {
                    text.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    other => text.push(other),
                }
            }
            p += 1;
        }
        args.push(start..text.len());
        if args.len() > MAX_ARGS {
            // Enough to refuse; no need to read the rest.
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(input: &[u8]) -> Vec<Vec<u8>> {
        let mut p = RequestParser::new();
        match p.parse(input).expect("parses") {
            Parsed::Request { request, .. } => (0..request.len())
                .map(|i| request.arg(i).to_vec())
                .collect(),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn multibulk_is_binary_safe_and_reports_its_length() {
        let input = b"*3\r\n$3\r\nSET\r\n$2\r\nk\0\r\n$4\r\na\r\nb\r\nrest";
        let mut p = RequestParser::new();
        match p.parse(input).unwrap() {
            Parsed::Request { request, consumed } => {
                assert_eq!(consumed, input.len() - 4);
                assert_eq!(request.name(), b"SET");
                assert_eq!(request.arg(1), b"k\0");
                assert_eq!(request.arg(2), b"a\r\nb");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_prefix_is_incomplete() {
        let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        let mut p = RequestParser::new();
        for end in 0..input.len() {
            assert!(
                matches!(p.parse(&input[..end]), Ok(Parsed::Incomplete)),
                "prefix {end}"
            );
        }
    }

    #[test]
    fn empty_commands_are_consumed_silently() {
        let mut p = RequestParser::new();
        for (input, used) in [
            (&b"*0\r\n"[..], 4),
            (b"*-1\r\n", 5),
            (b"\r\n", 2),
            (b"  \n", 3),
        ] {
            assert!(
                matches!(p.parse(input), Ok(Parsed::Empty { consumed }) if consumed == used),
                "{input:?}"
            );
        }
    }

    #[test]
    fn bad_lengths_are_protocol_errors() {
        let mut p = RequestParser::new();
        for (input, err) in [
            (&b"*x\r\n"[..], RequestError::MultibulkLength),
            (b"*+1\r\n", RequestError::MultibulkLength),
            (b"*01\r\n", RequestError::MultibulkLength),
            (b"*1\n$4\r\nPING\r\n", RequestError::MultibulkLength),
            (b"*1025\r\n", RequestError::TooManyArguments { count: 1025 }),
            (b"*1\r\n$x\r\n", RequestError::BulkLength),
            (b"*1\r\n$-1\r\n", RequestError::BulkLength),
            (b"*1\r\n$536870913\r\n", RequestError::BulkLength),
            (b"*1\r\n:4\r\n", RequestError::ExpectedDollar(b':')),
            (b"GET \"k\r\n", RequestError::UnbalancedQuotes),
        ] {
            assert_eq!(p.parse(input).err(), Some(err), "{input:?}");
        }
        assert_eq!(p.parse(b"*1024\r\n").ok().map(|_| ()), Some(()));
        let long = vec![b'1'; MAX_HEADER_LEN + 1];
        let mut star = b"*".to_vec();
        star.extend_from_slice(&long);
        assert_eq!(
            p.parse(&star).err(),
            Some(RequestError::MultibulkLineTooLong)
        );
        assert_eq!(p.parse(&long).err(), Some(RequestError::InlineTooLong));
        let mut dollar = b"*1\r\n$".to_vec();
        dollar.extend_from_slice(&long);
        assert_eq!(p.parse(&dollar).err(), Some(RequestError::BulkLineTooLong));
    }

    #[test]
    fn inline_splits_like_sdssplitargs() {
        assert_eq!(args(b"PING\r\n"), [b"PING".to_vec()]);
        assert_eq!(args(b"ping hello\n"), [b"ping".to_vec(), b"hello".to_vec()]);
        assert_eq!(
            args(b"SET  k \"a b\\x41\\n\" 'it\\'s'\r\n"),
            [
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a bA\n".to_vec(),
                b"it's".to_vec()
            ]
        );
        assert_eq!(args(b"a\"b c\" d\r\n"), [b"ab c".to_vec(), b"d".to_vec()]);
        assert_eq!(args(b"a\0b c\r\n"), [b"a".to_vec()]);
        let mut p = RequestParser::new();
        assert_eq!(
            p.parse(b"GET \"k\"x\r\n").err(),
            Some(RequestError::UnbalancedQuotes)
        );
    }

    #[test]
    fn an_oversized_argument_is_skipped_in_pieces() {
        let mut input = b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n".to_vec();
        let header = input.len();
        input.extend(std::iter::repeat_n(b'v', 40000));
        input.extend_from_slice(b"\r\n$2\r\nEX\r\n*1\r\n$4\r\nPING\r\n");
        let mut p = RequestParser::new();
        let Ok(Parsed::Oversized { consumed, mut skip }) = p.parse(&input[..header]) else {
            panic!("not refused at its header");
        };
        assert_eq!(consumed, header);
        assert_eq!(skip.arg_len, 40000);
        let mut at = consumed;
        let mut end = at;
        loop {
            // Arrives 1000 bytes at a time; what is not discarded stays.
            end = (end + 1000).min(input.len());
            match skip.advance(&input[at..end]).unwrap() {
                Skipped::More(n) => at += n,
                Skipped::Done(n) => {
                    at += n;
                    break;
                }
            }
        }
        assert_eq!(&input[at..], b"*1\r\n$4\r\nPING\r\n");
    }
}
