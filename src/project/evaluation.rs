//! What the evaluator said of a coding session's claims: one judgement per feature the session
//! marked passing, with the evidence, parsed from the evaluator's answer and checked. An answer
//! baton cannot read is an error, never a pass.

use serde::{Deserialize, Serialize};

/// The evaluator's word on one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Pass,
    Fail,
    /// No usable verdict: the answer was missing, unreadable, or the evaluator did not finish.
    Error,
}

impl std::fmt::Display for Judgement {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            Judgement::Pass => "pass",
            Judgement::Fail => "fail",
            Judgement::Error => "error",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureJudgement {
    /// Numbered from 1.
    pub feature: usize,
    pub description: String,
    pub judgement: Judgement,
    /// What the evaluator ran and saw, or why there is no verdict.
    pub evidence: String,
}

/// One evaluation of a coding session, as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The coding session judged.
    pub session: u32,
    /// The evaluator's own session.
    pub evaluator: u32,
    pub features: Vec<FeatureJudgement>,
    /// Features flipped back to failing (`[evaluate] mode = "enforce"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reverted: Vec<usize>,
    /// HEAD after baton's flip-back commit, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// What the evaluator changed although it may not, which baton put back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restored: Vec<String>,
}

impl Evaluation {
    /// Every claim held up.
    pub fn passed(&self) -> bool {
        self.features.iter().all(|f| f.judgement == Judgement::Pass)
    }

    pub fn count(&self, j: Judgement) -> usize {
        self.features.iter().filter(|f| f.judgement == j).count()
    }

    /// `2 pass, 1 fail`, leaving out what is zero.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = [Judgement::Pass, Judgement::Fail, Judgement::Error]
            .into_iter()
            .filter(|j| self.count(*j) > 0)
            .map(|j| format!("{} {j}", self.count(j)))
            .collect();
        parts.join(", ")
    }
}

/// The answer's block: `<evaluation>[{"feature": N, "verdict": "pass"|"fail", "evidence": "..."}]</evaluation>`.
pub const OPEN: &str = "<evaluation>";
pub const CLOSE: &str = "</evaluation>";

/// Reads the evaluator's answer `text` (everything it wrote) for the `claims` (feature number and
/// description) it was asked to judge. Each claim gets a judgement: the evaluator's, when its entry
/// is well formed, else an error saying what was wrong. The last block in the text counts.
pub fn parse_answer(text: &str, claims: &[(usize, String)]) -> Vec<FeatureJudgement> {
    let error = |why: &str| -> Vec<FeatureJudgement> {
        claims
            .iter()
            .map(|(n, d)| FeatureJudgement {
                feature: *n,
                description: d.clone(),
                judgement: Judgement::Error,
                evidence: why.to_owned(),
            })
            .collect()
    };
    let Some(start) = text.rfind(OPEN) else {
        return error("the evaluator's answer has no <evaluation> block, so baton has no verdict");
    };
    let body = &text[start + OPEN.len()..];
    let Some(end) = body.find(CLOSE) else {
        return error("the evaluator's <evaluation> block is not closed, so baton has no verdict");
    };
    let body = body[..end].trim().trim_start_matches("```json").trim_start_matches("```").trim_end_matches("```");
    let entries: Vec<serde_json::Value> = match serde_json::from_str(body) {
        Ok(serde_json::Value::Array(a)) => a,
        Ok(_) => return error("the evaluator's <evaluation> block is not a JSON array"),
        Err(e) => return error(&format!("the evaluator's <evaluation> block is not valid JSON ({e})")),
    };
    claims
        .iter()
        .map(|(n, d)| {
            let entry = entries.iter().rev().find(|e| e["feature"].as_u64() == Some(*n as u64));
            let (judgement, evidence) = match entry {
                None => (Judgement::Error, format!("the evaluator gave no verdict for feature {n}")),
                Some(e) => {
                    let evidence = e["evidence"].as_str().map(str::trim).unwrap_or("");
                    match e["verdict"].as_str().map(str::trim) {
                        _ if evidence.is_empty() => {
                            (Judgement::Error, format!("the evaluator's verdict on feature {n} gives no evidence"))
                        }
                        Some(v) if v.eq_ignore_ascii_case("pass") => (Judgement::Pass, evidence.to_owned()),
                        Some(v) if v.eq_ignore_ascii_case("fail") => (Judgement::Fail, evidence.to_owned()),
                        other => (
                            Judgement::Error,
                            format!(
                                "the evaluator's verdict on feature {n} is {}, neither \"pass\" nor \"fail\"",
                                other.map_or("missing".to_owned(), |v| format!("\"{v}\""))
                            ),
                        ),
                    }
                }
            };
            FeatureJudgement { feature: *n, description: d.clone(), judgement, evidence }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Vec<(usize, String)> {
        vec![(3, "sorted".into()), (4, "reset".into())]
    }

    #[test]
    fn a_well_formed_answer_gives_each_claim_its_verdict_and_evidence() {
        let text = "I ran them.\n<evaluation>\n[{\"feature\": 3, \"verdict\": \"pass\", \"evidence\": \"showed apples 2\"},\n {\"feature\": 4, \"verdict\": \"FAIL\", \"evidence\": \"show still printed apples 1\"}]\n</evaluation>";
        let got = parse_answer(text, &claims());
        assert_eq!(got[0].judgement, Judgement::Pass);
        assert_eq!(got[0].evidence, "showed apples 2");
        assert_eq!(got[1].judgement, Judgement::Fail);
        assert_eq!(got[1].description, "reset");
    }

    #[test]
    fn an_answer_baton_cannot_read_is_an_error_never_a_pass() {
        for text in [
            "All features pass!",
            "<evaluation>[{\"feature\": 3, \"verdict\": \"pass\"",
            "<evaluation>{\"feature\": 3}</evaluation>",
            "<evaluation>[{feature: 3, verdict: pass}]</evaluation>",
        ] {
            let got = parse_answer(text, &claims());
            assert!(got.iter().all(|j| j.judgement == Judgement::Error), "{text}: {got:?}");
            assert!(got.iter().all(|j| !j.evidence.is_empty()));
        }
    }

    #[test]
    fn a_missing_feature_an_odd_verdict_or_no_evidence_is_an_error_for_that_feature() {
        let text =
            "<evaluation>[{\"feature\": 3, \"verdict\": \"probably\", \"evidence\": \"looked fine\"}]</evaluation>";
        let got = parse_answer(text, &claims());
        assert_eq!(got[0].judgement, Judgement::Error);
        assert!(got[0].evidence.contains("\"probably\""), "{}", got[0].evidence);
        assert_eq!(got[1].judgement, Judgement::Error);
        assert!(got[1].evidence.contains("no verdict for feature 4"));
        let text = "<evaluation>[{\"feature\": 3, \"verdict\": \"pass\", \"evidence\": \"  \"}]</evaluation>";
        assert_eq!(parse_answer(text, &claims())[0].judgement, Judgement::Error);
    }

    #[test]
    fn the_last_block_counts() {
        let text = "Format: <evaluation>[{\"feature\": 3, \"verdict\": \"pass\", \"evidence\": \"e\"}]</evaluation>\nActually:\n<evaluation>[{\"feature\": 3, \"verdict\": \"fail\", \"evidence\": \"broken\"}]</evaluation>";
        assert_eq!(parse_answer(text, &claims())[0].judgement, Judgement::Fail);
    }
}
