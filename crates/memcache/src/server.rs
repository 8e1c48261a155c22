//! [`MemcacheServer`]: the server side of both wires, mapping requests
//! onto [`Op`]s run by an [`Execute`] and composing the answers.

use dc_ops::{CounterChange, Execute, Op, Protocol, Reply, ServerCodec, Step, StoreMode, Ttl};

use crate::binary::{self, opcode, status};
use crate::error::ProtocolError;
use crate::request::Request;
use crate::response::{for_each_stat, Response};
use crate::text;

/// Which wire a connection speaks, fixed by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    Text,
    Binary,
}

/// The server codec for one memcache connection: the first byte picks the
/// wire (0x80 binary, anything else text) for the connection's life.
///
/// Its only state is that choice and how many bytes of a refused value are
/// still to be skipped, so a value over the cap is dropped as it arrives
/// and never buffered.
#[derive(Debug, Clone, Default)]
pub struct MemcacheServer {
    wire: Option<Wire>,
    skip: usize,
}

impl MemcacheServer {
    /// A server codec for a new connection.
    pub fn new() -> MemcacheServer {
        MemcacheServer::default()
    }

    fn serve_text(
        &mut self,
        input: &[u8],
        exec: &mut dyn Execute,
        out: &mut Vec<u8>,
    ) -> Result<Step, ProtocolError> {
        let consumed = |consumed| Step::Consumed {
            consumed,
            requests: 1,
            close: false,
        };
        match text::parse(input)? {
            text::Parsed::Incomplete => Ok(Step::Incomplete),
            text::Parsed::Refused {
                refusal,
                noreply,
                consumed: n,
            } => {
                if !noreply {
                    text::compose::compose_line(refusal.text(), out);
                }
                Ok(consumed(n))
            }
            text::Parsed::Oversized {
                mode,
                key,
                noreply,
                consumed: n,
                skip,
            } => {
                if !noreply {
                    text::compose::compose(&Response::TooLarge, false, out);
                }
                refused_store(mode, key, exec);
                self.skip = skip;
                Ok(consumed(n))
            }
            text::Parsed::Request {
                request,
                noreply,
                consumed: n,
            } => {
                if let Request::Quit = request {
                    return Ok(Step::Consumed {
                        consumed: n,
                        requests: 1,
                        close: true,
                    });
                }
                serve_request(&request, exec, &mut |response, cas| {
                    if !noreply {
                        text::compose::compose(response, cas, out);
                    }
                });
                Ok(consumed(n))
            }
        }
    }

    fn serve_binary(
        &mut self,
        input: &[u8],
        exec: &mut dyn Execute,
        out: &mut Vec<u8>,
    ) -> Result<Step, ProtocolError> {
        match binary::parse(input)? {
            binary::Parsed::Incomplete => Ok(Step::Incomplete),
            binary::Parsed::Refused {
                header,
                status,
                consumed,
                skip,
                close,
            } => {
                binary::compose::error(header.opcode, header.opaque, status, out);
                self.skip = skip;
                Ok(Step::Consumed {
                    consumed,
                    requests: 1,
                    close,
                })
            }
            binary::Parsed::Oversized {
                header,
                mode,
                key,
                consumed,
                skip,
            } => {
                binary::compose::error(header.opcode, header.opaque, status::E2BIG, out);
                refused_store(mode, key, exec);
                self.skip = skip;
                Ok(Step::Consumed {
                    consumed,
                    requests: 1,
                    close: false,
                })
            }
            binary::Parsed::Request {
                header,
                request,
                consumed,
            } => {
                let op = header.opcode;
                let quiet = opcode::is_quiet(op);
                let close = matches!(request, Request::Quit);
                let mut answer = |response: &Response<'_>, _cas: bool| {
                    // Quiet gets answer only hits; other quiet commands
                    // only errors.
                    let success = matches!(
                        response,
                        Response::Miss { .. }
                            | Response::Stored
                            | Response::Deleted
                            | Response::Number(_)
                            | Response::Ok
                    );
                    if !(quiet && success) {
                        binary::compose::compose(op, header.opaque, response, out);
                    }
                };
                match request {
                    Request::Get { keys, .. } => {
                        for key in keys.iter() {
                            let mut hit = false;
                            exec.execute(&Op::Get { key }, &mut |reply| {
                                if let Reply::Value { data, flags } = *reply {
                                    hit = true;
                                    answer(&Response::Hit { key, flags, data }, false);
                                } else if !matches!(reply, Reply::NotFound) {
                                    hit = true;
                                    answer(&response_of(reply, None), false);
                                }
                            });
                            if !hit {
                                answer(&Response::Miss { key }, false);
                            }
                        }
                    }
                    Request::Touch { key, exptime } => {
                        // memcached answers a TOUCH with the entry's flags.
                        let mut flags = None;
                        exec.execute(&Op::Get { key }, &mut |reply| {
                            if let Reply::Value { flags: f, .. } = *reply {
                                flags = Some(f);
                            }
                        });
                        let ttl = Ttl::memcache(exptime);
                        exec.execute(&Op::Touch { key, ttl }, &mut |reply| {
                            let response = match reply {
                                Reply::Touched => Response::Touched {
                                    flags: flags.unwrap_or(0),
                                },
                                other => response_of(other, None),
                            };
                            answer(&response, false);
                        });
                    }
                    Request::Stats { group } if !group.is_empty() => {
                        answer(&Response::NotFound, false)
                    }
                    Request::Store { mode, .. } => {
                        // memcached's binary wire says why an add or a
                        // replace failed.
                        serve_request(&request, exec, &mut |response, cas| {
                            let response = match (response, mode) {
                                (Response::NotStored, StoreMode::Add) => &Response::Exists,
                                (Response::NotStored, StoreMode::Replace) => &Response::NotFound,
                                _ => response,
                            };
                            answer(response, cas)
                        })
                    }
                    Request::Version | Request::Noop | Request::Quit => {
                        let response = if let Request::Version = request {
                            Response::Version
                        } else {
                            Response::Ok
                        };
                        if op != opcode::QUITQ {
                            binary::compose::compose(op, header.opaque, &response, out);
                        }
                    }
                    _ => serve_request(&request, exec, &mut answer),
                }
                Ok(Step::Consumed {
                    consumed,
                    requests: 1,
                    close,
                })
            }
        }
    }
}

/// After a store refused for its size: memcached drops the old value of a
/// `set` so that a stale one is not served.
fn refused_store(mode: StoreMode, key: &[u8], exec: &mut dyn Execute) {
    if mode == StoreMode::Set {
        exec.execute(&Op::Delete { key }, &mut |_| {});
    }
}

/// Runs the operations of `request` and passes each answer, with whether a
/// text `VALUE` line gets a cas field.
fn serve_request(
    request: &Request<'_>,
    exec: &mut dyn Execute,
    answer: &mut dyn FnMut(&Response<'_>, bool),
) {
    let mut one = |op: Op<'_>, exec: &mut dyn Execute| {
        exec.execute(&op, &mut |reply| answer(&response_of(reply, None), false));
    };
    match *request {
        Request::Get { keys, cas } => {
            for key in keys.iter() {
                exec.execute(&Op::Get { key }, &mut |reply| match *reply {
                    Reply::Value { data, flags } => {
                        answer(&Response::Hit { key, flags, data }, cas)
                    }
                    Reply::NotFound => {}
                    ref other => answer(&response_of(other, None), false),
                });
            }
            answer(&Response::End, false);
        }
        Request::Store {
            mode,
            key,
            flags,
            exptime,
            value,
        } => one(
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl: Ttl::memcache(exptime),
            },
            exec,
        ),
        Request::Delete { key } => one(Op::Delete { key }, exec),
        Request::Counter {
            key,
            decrement,
            delta,
            create,
        } => one(
            Op::Counter {
                key,
                change: CounterChange::Unsigned {
                    decrement,
                    delta,
                    create: create.map(|(initial, exptime)| (initial, Ttl::memcache(exptime))),
                },
            },
            exec,
        ),
        Request::Touch { key, exptime } => one(
            Op::Touch {
                key,
                ttl: Ttl::memcache(exptime),
            },
            exec,
        ),
        Request::Stats { .. } => {
            let info = exec.info();
            for_each_stat(&info, |name, value| {
                answer(&Response::Stat { name, value }, false)
            });
            answer(&Response::StatsEnd, false);
        }
        Request::Version => answer(&Response::Version, false),
        Request::Noop | Request::Quit => answer(&Response::Ok, false),
    }
}

/// The response for an operation's reply (`key`: the key a value is under).
fn response_of<'a>(reply: &Reply<'a>, key: Option<&'a [u8]>) -> Response<'a> {
    match *reply {
        Reply::Value { data, flags } => Response::Hit {
            key: key.unwrap_or_default(),
            flags,
            data,
        },
        Reply::NotFound => Response::NotFound,
        Reply::Stored => Response::Stored,
        Reply::NotStored => Response::NotStored,
        Reply::Deleted | Reply::Found => Response::Deleted,
        Reply::Touched => Response::Touched { flags: 0 },
        Reply::Unsigned(n) => Response::Number(n),
        Reply::Signed(n) => Response::Number(n as u64),
        Reply::Remaining(_) => Response::Ok,
        Reply::NotNumeric | Reply::Overflow => Response::NonNumeric,
        Reply::TooLarge => Response::TooLarge,
        Reply::Unavailable => Response::Unavailable,
    }
}

impl ServerCodec for MemcacheServer {
    type Error = ProtocolError;

    fn serve(
        &mut self,
        input: &[u8],
        exec: &mut dyn Execute,
        out: &mut Vec<u8>,
    ) -> Result<Step, ProtocolError> {
        if self.skip > 0 {
            if input.is_empty() {
                return Ok(Step::Incomplete);
            }
            let n = self.skip.min(input.len());
            self.skip -= n;
            return Ok(Step::Consumed {
                consumed: n,
                requests: 0,
                close: false,
            });
        }
        let wire = match self.wire {
            Some(wire) => wire,
            None => {
                let Some(&first) = input.first() else {
                    return Ok(Step::Incomplete);
                };
                let wire = if first == binary::REQUEST_MAGIC {
                    Wire::Binary
                } else {
                    Wire::Text
                };
                self.wire = Some(wire);
                wire
            }
        };
        match wire {
            Wire::Text => self.serve_text(input, exec, out),
            Wire::Binary => self.serve_binary(input, exec, out),
        }
    }

    fn in_request(&self) -> bool {
        self.skip > 0
    }

    fn protocol(&self) -> Protocol {
        match self.wire {
            Some(Wire::Binary) => Protocol::MemcacheBinary,
            _ => Protocol::MemcacheText,
        }
    }
}
