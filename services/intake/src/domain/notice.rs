//! Telling the petitioner (告知书): which events produce a notice, and its text from the Chinese
//! templates. A notice's text names the case by its number and says what was decided; it
//! carries no personal data, so it may be stored and logged by kind. Whom it goes to (the
//! petitioners' phones) is looked up only when it is sent, inside the notifier.
//!
//! Built now: acceptance (受理告知书), refusal (不予受理告知书), forward (转送告知书) and the
//! reply (答复意见书), and the review and re-review decisions (复查意见书, 复核意见书).

use yimen_proto::v1::event::Payload;
use yimen_proto::v1::{Event, ReviewOutcome, ReviewStage};

use super::progress::refusal_words_zh;

/// The center's name at the head of every notice.
pub const SIGNATURE: &str = "【钟祥市信访超市】";

/// Which notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// 受理告知书.
    Accepted,
    /// 不予受理告知书.
    Refused,
    /// 转送告知书.
    Forwarded,
    /// 答复意见书.
    Replied,
    /// 复查意见书.
    Reviewed,
    /// 复核意见书: the last word on the matter.
    ReReviewed,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 6] = [
        Self::Accepted,
        Self::Refused,
        Self::Forwarded,
        Self::Replied,
        Self::Reviewed,
        Self::ReReviewed,
    ];

    /// The name in the store, the logs and the SMS gateway's `template` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Refused => "refused",
            Self::Forwarded => "forwarded",
            Self::Replied => "replied",
            Self::Reviewed => "reviewed",
            Self::ReReviewed => "re_reviewed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The notice's title, as the timeline shows it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Accepted => "受理告知书",
            Self::Refused => "不予受理告知书",
            Self::Forwarded => "转送告知书",
            Self::Replied => "答复意见书",
            Self::Reviewed => "复查意见书",
            Self::ReReviewed => "复核意见书",
        }
    }
}

/// The notice `event` calls for about the case numbered `case_number`, with its text; `None`
/// for events the petitioner is not told of.
pub fn of(event: &Event, case_number: &str) -> Option<(NoticeKind, String)> {
    let head = format!("{SIGNATURE}您的信访事项（编号{case_number}）");
    // The department by its name; by its code from a producer that did not name it.
    let named = |name: &str, code: &str| -> String {
        if name.is_empty() { code } else { name }.to_string()
    };
    Some(match event.payload.as_ref()? {
        // A co-handler (协办) taking its part on is not the case's acceptance.
        Payload::CaseAccepted(a) if a.co_handling => return None,
        Payload::CaseAccepted(a) => {
            let by = a
                .handle_by
                .as_ref()
                .map(|t| {
                    format!(
                        "，将于{}前办理完毕并答复您",
                        yimen_platform::calendar::date(yimen_platform::time::millis(t))
                    )
                })
                .unwrap_or_default();
            (
                NoticeKind::Accepted,
                format!(
                    "{head}已由{}受理{by}。",
                    named(&a.department_name, &a.department)
                ),
            )
        }
        Payload::CaseRefused(r) => {
            let channel = if r.channel.is_empty() {
                String::new()
            } else {
                format!("请向{}提出。", r.channel)
            };
            let why = if r.explanation.is_empty() {
                String::new()
            } else {
                format!("（{}）", r.explanation)
            };
            (
                NoticeKind::Refused,
                format!(
                    "{head}经审查不予受理，理由：{}{why}。{channel}",
                    refusal_words_zh(r.reason)
                ),
            )
        }
        Payload::CaseForwarded(f) => (
            NoticeKind::Forwarded,
            format!(
                "{head}不属于本中心职权范围，已转送{}办理，请与其联系。",
                f.authority
            ),
        ),
        Payload::CaseReplied(r) => (
            NoticeKind::Replied,
            format!(
                "{head}已由{}答复：{}。如对答复不满意，可自收到之日起30日内请求复查。",
                named(&r.department_name, &r.department),
                r.reply
            ),
        ),
        Payload::CaseReviewed(r) => {
            let outcome = match ReviewOutcome::try_from(r.outcome) {
                Ok(ReviewOutcome::Uphold) => "维持原处理意见",
                Ok(ReviewOutcome::Change) => "变更原处理意见",
                Ok(ReviewOutcome::Rehandle) => "责成原办理单位重新办理",
                _ => "作出如下意见",
            };
            let body = named(&r.department_name, &r.department);
            if r.stage == ReviewStage::ReReview as i32 {
                (
                    NoticeKind::ReReviewed,
                    format!(
                        "{head}经{body}复核，{outcome}：{}。复核意见为最终意见，\
                         同一事项无新的事实和理由的，不再受理。",
                        r.decision
                    ),
                )
            } else {
                (
                    NoticeKind::Reviewed,
                    format!(
                        "{head}经{body}复查，{outcome}：{}。如不服复查意见，\
                         可自收到之日起30日内请求复核。",
                        r.decision
                    ),
                )
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use yimen_proto::v1::{CaseAccepted, CaseEscalated, CaseRefused, RefusalReason};

    fn event(payload: Payload) -> Event {
        Event {
            payload: Some(payload),
            ..Default::default()
        }
    }

    #[test]
    fn a_refusal_notice_gives_the_reason_and_the_channel_in_chinese() {
        let (kind, text) = of(
            &event(Payload::CaseRefused(CaseRefused {
                reason: RefusalReason::Arbitration as i32,
                channel: "钟祥市劳动人事争议仲裁委员会".into(),
                ..Default::default()
            })),
            "YM-2026-000007",
        )
        .unwrap();
        assert_eq!(kind, NoticeKind::Refused);
        assert_eq!(
            text,
            "【钟祥市信访超市】您的信访事项（编号YM-2026-000007）经审查不予受理，理由：\
             属于仲裁范围。请向钟祥市劳动人事争议仲裁委员会提出。"
        );
    }

    #[test]
    fn an_acceptance_notice_says_by_when_it_is_handled() {
        let (kind, text) = of(
            &event(Payload::CaseAccepted(CaseAccepted {
                department: "civil-affairs".into(),
                department_name: "民政局".into(),
                handle_by: Some(yimen_platform::time::timestamp(1_772_323_200_000)),
                ..Default::default()
            })),
            "YM-2026-000001",
        )
        .unwrap();
        assert_eq!(kind, NoticeKind::Accepted);
        assert!(
            text.contains("已由民政局受理，将于2026-03-01前办理完毕"),
            "{text}"
        );
    }

    #[test]
    fn events_the_petitioner_is_not_told_of_make_no_notice() {
        assert_eq!(
            of(
                &event(Payload::CaseEscalated(CaseEscalated::default())),
                "YM-2026-000001"
            ),
            None
        );
        assert_eq!(of(&Event::default(), "YM-2026-000001"), None);
    }

    #[test]
    fn review_and_re_review_decisions_are_told_with_what_comes_next() {
        let decided = |stage: ReviewStage, outcome: ReviewOutcome| {
            of(
                &event(Payload::CaseReviewed(yimen_proto::v1::CaseReviewed {
                    department: "city-center".into(),
                    department_name: "市信访超市".into(),
                    stage: stage as i32,
                    outcome: outcome as i32,
                    decision: "原答复认定事实清楚".into(),
                    ..Default::default()
                })),
                "YM-2026-000009",
            )
            .unwrap()
        };
        let (kind, text) = decided(ReviewStage::Review, ReviewOutcome::Uphold);
        assert_eq!(kind, NoticeKind::Reviewed);
        assert_eq!(
            text,
            "【钟祥市信访超市】您的信访事项（编号YM-2026-000009）经市信访超市复查，维持原处理意见：\
             原答复认定事实清楚。如不服复查意见，可自收到之日起30日内请求复核。"
        );
        let (kind, text) = decided(ReviewStage::ReReview, ReviewOutcome::Change);
        assert_eq!(kind, NoticeKind::ReReviewed);
        assert!(text.contains("经市信访超市复核，变更原处理意见"), "{text}");
        assert!(text.contains("不再受理"), "{text}");
        let (_, text) = decided(ReviewStage::Review, ReviewOutcome::Rehandle);
        assert!(text.contains("责成原办理单位重新办理"), "{text}");
    }

    #[test]
    fn a_co_handlers_acceptance_makes_no_notice() {
        let co_handler = event(Payload::CaseAccepted(CaseAccepted {
            department: "civil-affairs".into(),
            co_handling: true,
            ..Default::default()
        }));
        assert_eq!(of(&co_handler, "YM-2026-000001"), None);
    }

    #[test]
    fn kinds_round_trip_and_have_titles() {
        for kind in NoticeKind::ALL {
            assert_eq!(NoticeKind::parse(kind.as_str()), Some(kind));
            assert!(kind.title().ends_with('书'));
        }
    }
}
