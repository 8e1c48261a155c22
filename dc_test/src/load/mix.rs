//! The operation mix: `--mix add=20,get=70,remove=10,have=0`.

use std::fmt;
use std::str::FromStr;

use dc_protocol::Operation;
use thiserror::Error;

/// The default mix: the reference measurements' 20% ADD, 70% GET, 10%
/// REMOVE.
pub const DEFAULT_MIX: &str = "add=20,get=70,remove=10,have=0";

/// Relative weights of the four operations.
///
/// Weights are whole numbers and need not add up to 100: `add=1,get=1`
/// is half ADDs, half GETs. Operations left out weigh 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Weights in wire order (ADD, GET, REMOVE, HAVE).
    weights: [u32; 4],
    /// Running sums of `weights`, to pick with one comparison per
    /// operation.
    cumulative: [u64; 4],
}

/// Why a `--mix` value is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MixError {
    /// An item is not `name=weight`.
    #[error("--mix item {0:?} is not name=weight (e.g. add=20,get=70,remove=10,have=0)")]
    Item(String),
    /// An unknown operation name.
    #[error("--mix names unknown operation {0:?} (expected add, get, remove or have)")]
    Operation(String),
    /// A weight that is not a whole number.
    #[error("--mix weight {weight:?} for {operation} is not a whole number")]
    Weight {
        /// The operation, lower case.
        operation: String,
        /// The text given as its weight.
        weight: String,
    },
    /// The same operation twice.
    #[error("--mix gives {0} twice")]
    Duplicate(String),
    /// Every weight is 0 (or the mix is empty).
    #[error("--mix gives no operation a weight above 0")]
    Nothing,
}

impl Mix {
    /// A mix with these weights for ADD, GET, REMOVE and HAVE. `None` if
    /// they are all 0.
    pub fn new(weights: [u32; 4]) -> Option<Mix> {
        let mut cumulative = [0u64; 4];
        let mut sum = 0u64;
        for (c, &w) in cumulative.iter_mut().zip(&weights) {
            sum += u64::from(w);
            *c = sum;
        }
        (sum > 0).then_some(Mix {
            weights,
            cumulative,
        })
    }

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        self.cumulative[3]
    }

    /// The weight of `operation`.
    pub fn weight(&self, operation: Operation) -> u32 {
        self.weights[usize::from(operation.to_byte())]
    }

    /// The operation for a uniform random draw `r` in `0..total()`.
    pub fn pick(&self, r: u64) -> Operation {
        let at = self.cumulative.iter().position(|&c| r < c).unwrap_or(3);
        Operation::ALL[at]
    }
}

impl Default for Mix {
    /// [`DEFAULT_MIX`].
    fn default() -> Mix {
        Mix {
            weights: [20, 70, 10, 0],
            cumulative: [20, 90, 100, 100],
        }
    }
}

impl FromStr for Mix {
    type Err = MixError;

    fn from_str(s: &str) -> Result<Mix, MixError> {
        let mut weights: [Option<u32>; 4] = [None; 4];
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| MixError::Item(item.to_string()))?;
            let name = name.trim().to_ascii_lowercase();
            let operation = Operation::ALL
                .into_iter()
                .find(|op| op.name().eq_ignore_ascii_case(&name))
                .ok_or_else(|| MixError::Operation(name.clone()))?;
            let weight: u32 = weight.trim().parse().map_err(|_| MixError::Weight {
                operation: name.clone(),
                weight: weight.trim().to_string(),
            })?;
            let slot = &mut weights[usize::from(operation.to_byte())];
            if slot.is_some() {
                return Err(MixError::Duplicate(name));
            }
            *slot = Some(weight);
        }
        Mix::new(weights.map(|w| w.unwrap_or(0))).ok_or(MixError::Nothing)
    }
}

impl fmt::Display for Mix {
    /// The canonical form, which parses back to the same mix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [add, get, remove, have] = self.weights;
        write!(f, "add={add},get={get},remove={remove},have={have}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_and_round_trips() {
        let mix: Mix = DEFAULT_MIX.parse().unwrap();
        assert_eq!(mix, Mix::default());
        assert_eq!(mix.to_string(), DEFAULT_MIX);
        assert_eq!(mix.total(), 100);
    }

    #[test]
    fn order_case_spaces_and_missing_operations() {
        let mix: Mix = " GET=3, add = 1 ".parse().unwrap();
        assert_eq!(mix.to_string(), "add=1,get=3,remove=0,have=0");
        let mix: Mix = "have=5".parse().unwrap();
        assert_eq!(mix.pick(0), Operation::Have);
        assert_eq!(mix.pick(4), Operation::Have);
    }

    #[test]
    fn pick_follows_the_weights() {
        let mix: Mix = "add=20,get=70,remove=10".parse().unwrap();
        let mut counts = [0u32; 4];
        for r in 0..100 {
            counts[usize::from(mix.pick(r).to_byte())] += 1;
        }
        assert_eq!(counts, [20, 70, 10, 0]);
        // Draws past the total (a caller bug) still give an operation.
        assert_eq!(mix.pick(1000), Operation::Have);
    }

    #[test]
    fn refusals_name_the_problem() {
        use MixError::*;
        let err = |s: &str| s.parse::<Mix>().unwrap_err();
        assert_eq!(err("add"), Item("add".into()));
        assert_eq!(err("put=3"), Operation("put".into()));
        assert_eq!(
            err("get=-1"),
            Weight {
                operation: "get".into(),
                weight: "-1".into()
            }
        );
        assert_eq!(
            err("get=1.5"),
            Weight {
                operation: "get".into(),
                weight: "1.5".into()
            }
        );
        assert_eq!(err("get=1,GET=2"), Duplicate("get".into()));
        assert_eq!(err("add=0,get=0"), Nothing);
        assert_eq!(err(""), Nothing);
        assert!(err("put=3")
            .to_string()
            .contains("add, get, remove or have"));
    }
}
