//! The commands the server knows, with Redis's names and arities.

/// A command the server serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `PING [message]`
    Ping,
    /// `GET key`
    Get,
    /// `SET key value [NX|XX] [EX s|PX ms|EXAT s|PXAT ms]`
    Set,
    /// `SETEX key seconds value`
    Setex,
    /// `DEL key [key ...]`
    Del,
    /// `EXISTS key [key ...]`
    Exists,
    /// `INCR key`
    Incr,
    /// `DECR key`
    Decr,
    /// `INCRBY key n`
    Incrby,
    /// `DECRBY key n`
    Decrby,
    /// `EXPIRE key seconds`
    Expire,
    /// `PEXPIRE key ms`
    Pexpire,
    /// `EXPIREAT key unix-seconds`
    Expireat,
    /// `PERSIST key`
    Persist,
    /// `TTL key`
    Ttl,
    /// `PTTL key`
    Pttl,
    /// `INFO [section ...]`
    Info,
    /// `AUTH [username] password`
    Auth,
    /// `SELECT index`
    Select,
    /// `QUIT`
    Quit,
    /// `CONFIG GET parameter ...` (read-only: the parameters benchmark
    /// tools read)
    Config,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 21] = [
        Command::Ping,
        Command::Get,
        Command::Set,
        Command::Setex,
        Command::Del,
        Command::Exists,
        Command::Incr,
        Command::Decr,
        Command::Incrby,
        Command::Decrby,
        Command::Expire,
        Command::Pexpire,
        Command::Expireat,
        Command::Persist,
        Command::Ttl,
        Command::Pttl,
        Command::Info,
        Command::Auth,
        Command::Select,
        Command::Quit,
        Command::Config,
    ];

    /// The name, lowercase, as Redis writes it in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Command::Ping => "ping",
            Command::Get => "get",
            Command::Set => "set",
            Command::Setex => "setex",
            Command::Del => "del",
            Command::Exists => "exists",
            Command::Incr => "incr",
            Command::Decr => "decr",
            Command::Incrby => "incrby",
            Command::Decrby => "decrby",
            Command::Expire => "expire",
            Command::Pexpire => "pexpire",
            Command::Expireat => "expireat",
            Command::Persist => "persist",
            Command::Ttl => "ttl",
            Command::Pttl => "pttl",
            Command::Info => "info",
            Command::Auth => "auth",
            Command::Select => "select",
            Command::Quit => "quit",
            Command::Config => "config",
        }
    }

    /// Redis's arity: `n > 0` means exactly `n` arguments (the name
    /// included), `n < 0` at least `-n`.
    pub fn arity(self) -> i32 {
        match self {
            Command::Ping | Command::Info | Command::Quit => -1,
            Command::Get
            | Command::Incr
            | Command::Decr
            | Command::Persist
            | Command::Ttl
            | Command::Pttl
            | Command::Select => 2,
            Command::Incrby | Command::Decrby => 3,
            Command::Setex => 4,
            Command::Set | Command::Expire | Command::Pexpire | Command::Expireat => -3,
            Command::Del | Command::Exists | Command::Auth | Command::Config => -2,
        }
    }

    /// Whether `argc` arguments (the name included) fit the arity.
    pub fn arity_ok(self, argc: usize) -> bool {
        let arity = self.arity();
        let argc = argc as i64;
        if arity > 0 {
            argc == i64::from(arity)
        } else {
            argc >= -i64::from(arity)
        }
    }

    /// Allowed before `AUTH` when a password is set. Redis allows only
    /// AUTH, HELLO and QUIT; PING and INFO are let through on purpose,
    /// because ProFTPD sends `PING` and `INFO server` before it
    /// authenticates and reads the version to choose its AUTH form.
    pub fn before_auth(self) -> bool {
        matches!(
            self,
            Command::Ping | Command::Info | Command::Auth | Command::Quit
        )
    }

    /// The command named `name`, in any case.
    pub fn lookup(name: &[u8]) -> Option<Command> {
        // The hot commands first: this runs on every request.
        if name.len() == 3 {
            if name.eq_ignore_ascii_case(b"GET") {
                return Some(Command::Get);
            }
            if name.eq_ignore_ascii_case(b"SET") {
                return Some(Command::Set);
            }
        }
        Command::ALL
            .into_iter()
            .find(|c| c.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive() {
        for c in Command::ALL {
            assert_eq!(Command::lookup(c.name().as_bytes()), Some(c));
            assert_eq!(Command::lookup(c.name().to_uppercase().as_bytes()), Some(c));
        }
        assert_eq!(Command::lookup(b"SeTeX"), Some(Command::Setex));
        assert_eq!(Command::lookup(b"GETX"), None);
        assert_eq!(Command::lookup(b""), None);
    }

    #[test]
    fn arities_follow_redis() {
        assert!(Command::Ping.arity_ok(1) && Command::Ping.arity_ok(3));
        assert!(!Command::Get.arity_ok(3));
        assert!(!Command::Set.arity_ok(2) && Command::Set.arity_ok(7));
        assert!(!Command::Del.arity_ok(1));
    }
}
