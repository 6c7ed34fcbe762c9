//! The guard: after every session, the feature list is compared with the one the session started
//! from. An agent may change only `passes`; anything else (a feature removed, added, reworded,
//! reordered, steps edited) is a violation. The repaired list is the one the session started from
//! with the agent's `passes` changes kept.

use serde_json::{Map, Value};

use crate::project::features::{Feature, FeatureList};
use crate::project::journal::Flip;

#[derive(Debug, Clone, PartialEq)]
pub struct GuardReport {
    /// What the agent changed beyond `passes`, in words for the operator.
    pub violations: Vec<String>,
    /// The `passes` changes that stand.
    pub flips: Vec<Flip>,
    /// The list to save when there were violations.
    pub repaired: Option<FeatureList>,
}

fn protected(f: &Feature) -> Map<String, Value> {
    let mut m = f.fields().clone();
    m.shift_remove("passes");
    m
}

fn changed_fields(a: &Feature, b: &Feature) -> Vec<String> {
    let (a, b) = (protected(a), protected(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.dedup();
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        if a.get(k) != b.get(k) && !out.iter().any(|o| o == k) {
            out.push(k.clone());
        }
    }
    out
}

fn quote(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    format!("\"{s}\"")
}

/// Compares the list a session started from with the one it left.
pub fn check(before: &FeatureList, after: &FeatureList) -> GuardReport {
    let b = before.features();
    let a = after.features();
    // Pair each feature before with one after: first by identical protected fields, then what is
    // left by position (a feature edited in place).
    let mut pair: Vec<Option<usize>> = vec![None; b.len()];
    let mut used = vec![false; a.len()];
    for (i, fb) in b.iter().enumerate() {
        let pb = protected(fb);
        let found = (0..a.len())
            .find(|&j| !used[j] && j == i && protected(&a[j]) == pb)
            .or_else(|| (0..a.len()).find(|&j| !used[j] && protected(&a[j]) == pb));
        if let Some(j) = found {
            used[j] = true;
            pair[i] = Some(j);
        }
    }
    let mut violations = Vec::new();
    let mut edited = Vec::new();
    for i in 0..b.len() {
        if pair[i].is_none() {
            if i < a.len() && !used[i] {
                used[i] = true;
                pair[i] = Some(i);
                edited.push(i);
                let fields = changed_fields(&b[i], &a[i]);
                violations.push(format!(
                    "feature {} {}: {} changed",
                    i + 1,
                    quote(b[i].description()),
                    fields.join(", ")
                ));
            } else {
                violations.push(format!("feature {} {} was removed", i + 1, quote(b[i].description())));
            }
        }
    }
    for (j, f) in a.iter().enumerate() {
        if !used[j] {
            violations.push(format!("a feature was added at {}: {}", j + 1, quote(f.description())));
        }
    }
    let matched: Vec<usize> =
        pair.iter().enumerate().filter(|(i, _)| !edited.contains(i)).filter_map(|(_, p)| *p).collect();
    if matched.windows(2).any(|w| w[0] > w[1]) {
        violations.push("features were reordered".to_owned());
    }

    let mut repaired = before.clone();
    let mut flips = Vec::new();
    for (i, p) in pair.iter().enumerate() {
        let Some(j) = p else { continue };
        let passes = a[*j].passes();
        if passes != b[i].passes() {
            if let Ok(f) = repaired.get_mut(i + 1) {
                f.set_passes(passes);
            }
            flips.push(Flip { feature: i + 1, passes, description: b[i].description().to_owned() });
        }
    }
    GuardReport { repaired: (!violations.is_empty()).then_some(repaired), violations, flips }
}

/// The initializer writes the list: every feature must start failing. Returns the violations and
/// the list with every `passes` set to false, if any was not.
pub fn check_initial(list: &FeatureList) -> (Vec<String>, Option<FeatureList>) {
    let passing: Vec<usize> =
        list.features().iter().enumerate().filter(|(_, f)| f.passes()).map(|(i, _)| i + 1).collect();
    if passing.is_empty() {
        return (Vec::new(), None);
    }
    let mut fixed = list.clone();
    for n in &passing {
        if let Ok(f) = fixed.get_mut(*n) {
            f.set_passes(false);
        }
    }
    let names: Vec<String> = passing.iter().map(|n| n.to_string()).collect();
    (
        vec![format!("the initializer marked features {} passing before anything was built", names.join(", "))],
        Some(fixed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn list(features: &[(&str, bool)]) -> FeatureList {
        let mut l = FeatureList::empty("feature_list.json");
        for (d, p) in features {
            let mut f = Feature::new("functional", d, &["step"]);
            f.set_passes(*p);
            l.push(f);
        }
        // Through text, as it would be read from disk.
        FeatureList::parse(Path::new("feature_list.json"), &l.to_json()).unwrap()
    }

    #[test]
    fn an_honest_flip_is_no_violation() {
        let before = list(&[("a", false), ("b", false)]);
        let after = list(&[("a", true), ("b", false)]);
        let r = check(&before, &after);
        assert!(r.violations.is_empty());
        assert_eq!(r.flips, vec![Flip { feature: 1, passes: true, description: "a".into() }]);
        assert!(r.repaired.is_none());
    }

    #[test]
    fn deleting_and_rewording_are_caught_and_repaired_keeping_the_flip() {
        let before = list(&[("a", false), ("b", false), ("c", false)]);
        // The agent flips a, rewords b and deletes c.
        let mut after = list(&[("a", true), ("b, but easier", false)]);
        after.get_mut(2).unwrap().fields_mut().insert("steps".into(), serde_json::json!([]));
        let r = check(&before, &after);
        assert_eq!(r.violations.len(), 2, "{:?}", r.violations);
        assert!(r.violations[0].contains("feature 2 \"b\": description, steps changed"), "{:?}", r.violations);
        assert!(r.violations[1].contains("feature 3 \"c\" was removed"), "{:?}", r.violations);
        let repaired = r.repaired.unwrap();
        assert_eq!(repaired.len(), 3);
        assert_eq!(repaired.get(2).unwrap().description(), "b");
        assert!(repaired.get(1).unwrap().passes(), "the honest flip is kept");
        // Only the flip differs from the original text.
        assert_eq!(repaired.to_json(), before.to_json().replacen("\"passes\": false", "\"passes\": true", 1));
    }

    #[test]
    fn adding_and_reordering_are_caught() {
        let before = list(&[("a", false), ("b", false)]);
        let r = check(&before, &list(&[("b", false), ("a", true)]));
        assert_eq!(r.violations, vec!["features were reordered"]);
        assert_eq!(r.flips.len(), 1);
        assert!(r.repaired.unwrap().get(1).unwrap().passes());
        let r = check(&before, &list(&[("a", false), ("b", false), ("z", true)]));
        assert_eq!(r.violations, vec!["a feature was added at 3: \"z\""]);
    }

    #[test]
    fn only_the_operator_sets_a_feature_aside() {
        // The operator skipped b: it is last, marked skipped.
        let mut before = list(&[("a", false), ("b", false)]);
        before.skip(2).unwrap();
        // The agent un-skips b and sets a aside; it may still pass b.
        let mut after = before.clone();
        after.get_mut(2).unwrap().fields_mut().shift_remove("skipped");
        after.get_mut(2).unwrap().set_passes(true);
        after.get_mut(1).unwrap().fields_mut().insert("skipped".into(), true.into());
        let r = check(&before, &after);
        assert_eq!(r.violations.len(), 2, "{:?}", r.violations);
        assert!(r.violations.iter().all(|v| v.ends_with("skipped changed")), "{:?}", r.violations);
        let repaired = r.repaired.unwrap();
        assert!(!crate::project::features::is_skipped(repaired.get(1).unwrap()));
        assert!(crate::project::features::is_skipped(repaired.get(2).unwrap()));
        assert!(repaired.get(2).unwrap().passes(), "the flip stands");
    }

    #[test]
    fn the_initializer_may_not_mark_anything_passing() {
        let (v, fixed) = check_initial(&list(&[("a", true), ("b", false)]));
        assert_eq!(v.len(), 1);
        assert_eq!(fixed.unwrap().passing(), 0);
        assert_eq!(check_initial(&list(&[("a", false)])).0.len(), 0);
    }
}
