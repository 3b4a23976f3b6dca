//! Intake's use cases, one transaction each: register a matter, answer a case with its
//! timeline, list cases, take the petitioner's evaluation of a reply. Each is a
//! `Result<_, Error>` operation that `api` maps onto status codes. Reads answer only the cases
//! the caller's scope lets it see (`domain::access`). No request is ever logged: they carry
//! personal data.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;
use yimen_platform::auth::Scope;
use yimen_platform::db::{Db, Tx, now_millis};
use yimen_platform::error::{Error, FieldViolation};
use yimen_platform::events::new_event;
use yimen_platform::outbox;
use yimen_platform::seal::Keyring;
use yimen_platform::time::timestamp;
use yimen_platform::watch;
use yimen_proto::event_type::{CASE_REGISTERED, CASE_REVIEW_REQUESTED, CASE_SUPPLEMENTED};
use yimen_proto::v1::event::Payload;
use yimen_proto::v1::*;

use crate::domain::evaluation::{self, Evaluation};
use crate::domain::review::{self, ReviewRequest, ReviewWindow};
use crate::domain::same_matter::{self, ClosedMatter};
use crate::domain::supplement::{self, Supplement};
use crate::domain::withdrawal::{self, DeskReply, Withdrawal};
use crate::domain::{
    CaseFilter, CaseNumber, CaseRef, NewCase, NumberBlock, PetitionerKeyer, Visibility,
};
use crate::domain::{progress, query_code};
use crate::{IntakeConfig, SERVICE, store};
use yimen_platform::calendar;

/// The one answer to a status query that finds nothing, whatever was wrong: it names neither
/// the number nor the code.
pub const NO_SUCH_CASE: &str = "no case with this number and query code";

/// How many timeline lines one read of a watched case takes.
const WATCH_PAGE: i64 = 100;

/// Intake's use cases over its store.
pub struct Intake {
    db: Db,
    keyer: PetitionerKeyer,
    /// Seals the petitioners' personal data in the store and opens it for answers.
    keyring: Arc<Keyring>,
    numbers: CaseNumbers,
    /// How long after an answer a review of it may be asked for.
    review_window: ReviewWindow,
    /// How similar a subject must be to repeat a matter closed for good (不再受理).
    same_matter_similarity: f64,
}

impl Intake {
    /// The use cases over `db`; petitioner fingerprints keyed as [`IntakeConfig::petitioner_key`]
    /// says.
    pub fn new(db: Db, config: &IntakeConfig, keyring: Arc<Keyring>) -> Self {
        let keyer = match config.petitioner_key.as_str() {
            "" => PetitionerKeyer::new(keyring.keyed_hash()),
            legacy => PetitionerKeyer::legacy(legacy),
        };
        Self {
            numbers: CaseNumbers::new(db.clone(), config.case_number_block),
            db,
            keyer,
            keyring,
            review_window: ReviewWindow {
                days: config.review_window_days,
                holidays: config.holidays.clone(),
            },
            same_matter_similarity: config.same_matter_similarity,
        }
    }

    /// Registers a case: the case, its petitioners, its first timeline line and
    /// `case.registered` in one transaction; an outside system is recorded as its submitter. A
    /// retry with a known request id answers the case already registered, provided the caller
    /// may read it.
    pub async fn submit(
        &self,
        request: &SubmitCaseRequest,
        scope: &Scope,
    ) -> Result<SubmitCaseResponse, Error> {
        let visibility = Visibility::of(scope);
        let case = NewCase::parse(request)?;
        if let Some(known) = self
            .registered_under(case.request_id.as_deref(), &visibility)
            .await?
        {
            return Ok(known);
        }
        let announcement = self.announcement(&case, "");
        let repeated = self
            .repeated_matter(&case, &announcement.petitioner_keys)
            .await?;
        let case_id = uuid::Uuid::now_v7().to_string();
        let registered_at = now_millis();
        let year = calendar::year(registered_at);
        let reserved = self.numbers.take(year).await?;
        let mut tx = self.db.begin().await?;
        let seq = match reserved {
            Some(seq) => seq,
            None => store::advance_case_seq(&mut tx, year, 1).await?,
        };
        let number = CaseNumber::new(year, seq).into_string();
        let submitter = visibility.submitter();
        let query_code = query_code::generate()?;
        let inserted = store::insert_case(
            &mut tx,
            &case_id,
            &number,
            &case,
            registered_at,
            submitter,
            &query_code::hash(&query_code),
        )
        .await?;
        if !inserted {
            // A concurrent retry with the same request id won: answer its case.
            drop(tx);
            return self
                .registered_under(case.request_id.as_deref(), &visibility)
                .await?
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("request id taken by no case")));
        }
        store::insert_petitioners(&mut tx, &case_id, &case.petitioners, &self.keyring).await?;
        store::insert_petitioner_keys(&mut tx, &case_id, &announcement.petitioner_keys).await?;
        let announcement = Payload::CaseRegistered(CaseRegistered {
            case_number: number.clone(),
            ..announcement
        });
        let mut event = new_event(CASE_REGISTERED, &case_id, SERVICE, announcement);
        // The event announces the very instant the case was registered.
        event.occurred_at = Some(timestamp(registered_at));
        let line = progress::registered(&number, case.channel, case.category, case.headcount);
        store::insert_line(
            &mut tx,
            &case_id,
            &event.id,
            registered_at,
            &line,
            store::REGISTRATION_POSITION,
        )
        .await?;
        if let (Some(earlier), Some(facts)) = (&repeated, &case.new_facts) {
            store::insert_new_facts(&mut tx, &case_id, &earlier.case_number, facts).await?;
            let line = same_matter::taken_again(&earlier.case_number);
            let line_id = format!("new-facts:{case_id}");
            store::add_timeline(&mut tx, &case_id, &line_id, registered_at, &line).await?;
        }
        if let Some(desk) = &case.desk {
            settle_at_desk(&mut tx, &case_id, desk, registered_at).await?;
        }
        outbox::enqueue(&mut tx, &event).await?;
        self.db.commit(tx).await?;
        tracing::info!(case_id = %case_id, case_number = %number, collective = case.collective(), "case registered");
        Ok(SubmitCaseResponse {
            case_id,
            case_number: number,
            query_code,
        })
    }

    /// The case registered under `request_id`, without its query code: only its hash is kept,
    /// so a replay answers ''. Another system's request id is refused rather
    /// than answered, so a caller cannot learn of cases it may not read by guessing keys.
    async fn registered_under(
        &self,
        request_id: Option<&str>,
        visibility: &Visibility,
    ) -> Result<Option<SubmitCaseResponse>, Error> {
        let Some(request_id) = request_id else {
            return Ok(None);
        };
        let mut conn = self.db.pool().acquire().await?;
        let Some((case_id, case_number)) = store::case_by_request_id(&mut conn, request_id).await?
        else {
            return Ok(None);
        };
        if !store::is_visible(&mut conn, &case_id, visibility).await? {
            return Err(Error::AlreadyExists(
                "request_id is already taken by another submission; choose another".into(),
            ));
        }
        Ok(Some(SubmitCaseResponse {
            case_id,
            case_number,
            query_code: String::new(),
        }))
    }

    /// What other services learn of a new case: no names, numbers or phones, only keyed
    /// fingerprints of the identity numbers given.
    fn announcement(&self, case: &NewCase, case_number: &str) -> CaseRegistered {
        CaseRegistered {
            case_number: case_number.to_string(),
            channel: case.channel as i32,
            category: case.category as i32,
            location: Some(Location {
                town: case.town.clone(),
                village: case.village.clone(),
            }),
            headcount: case.headcount,
            subject: case.subject.clone(),
            amount_claimed: case.amount_claimed_fen.map(|fen| Money { fen }),
            petitioner_keys: case
                .petitioners
                .iter()
                .filter_map(|p| p.id_number.as_ref())
                .map(|id| self.keyer.key(id))
                .collect(),
            settled_at_desk: case.desk.is_some(),
            mediated_at_desk: case.desk.as_ref().is_some_and(|d| d.mediated),
        }
    }

    /// The case with its timeline; one the caller may not read is answered exactly as an
    /// unknown one.
    pub async fn get(&self, request: &GetCaseRequest, scope: &Scope) -> Result<Case, Error> {
        let case_ref =
            CaseRef::parse(&request.case_ref).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let mut conn = self.db.reads().acquire().await?;
        store::find_case(&mut conn, &case_ref, &Visibility::of(scope), &self.keyring)
            .await?
            .ok_or_else(|| Error::not_found(format!("no case `{}`", case_ref.key())))
    }

    /// WatchCase: the case's timeline after the request's position, then each line as it
    /// commits; ends on `shutdown`. A case the caller may not read is answered exactly as an
    /// unknown one, as GetCase does.
    pub async fn watch(
        &self,
        request: &GetCaseRequest,
        scope: &Scope,
        shutdown: CancellationToken,
    ) -> Result<BoxStream<'static, Result<TimelineEntry, tonic::Status>>, Error> {
        let case_ref =
            CaseRef::parse(&request.case_ref).map_err(|v| Error::InvalidArgument(vec![v]))?;
        if i64::try_from(request.after_position).is_err() {
            return Err(Error::InvalidArgument(vec![FieldViolation::new(
                "after_position",
                "is beyond any position",
            )]));
        }
        let case_id = {
            let mut conn = self.db.pool().acquire().await?;
            store::visible_case_id(&mut conn, &case_ref, &Visibility::of(scope))
                .await?
                .ok_or_else(|| Error::not_found(format!("no case `{}`", case_ref.key())))?
        };
        let db = self.db.clone();
        let read: watch::Read<TimelineEntry> = Box::new(move |after| {
            let (db, case_id) = (db.clone(), case_id.clone());
            Box::pin(async move {
                let mut conn = db.pool().acquire().await?;
                let lines = store::timeline_after(&mut conn, &case_id, after, WATCH_PAGE).await?;
                Ok(lines.into_iter().map(|l| (l.position, l)).collect())
            })
        });
        Ok(watch::follow(
            &self.db,
            shutdown,
            request.after_position,
            read,
        ))
    }

    /// Records the petitioner's evaluation of a reply (质量评价) and what it decides, in one
    /// transaction: the evaluation with its comment (kept here, never published),
    /// `case.evaluated`, then `case.closed` (satisfied or basically satisfied: status CLOSED)
    /// or `case.reopened` (unsatisfied: status REOPENED, for dispatch to assign again), each
    /// event with its timeline line. Only a REPLIED case can be evaluated. Answers the case as
    /// it now stands.
    pub async fn evaluate(&self, request: &SubmitEvaluationRequest) -> Result<Case, Error> {
        let evaluation = Evaluation::parse(request)?;
        let mut tx = self.db.begin().await?;
        let case = store::case_state(&mut tx, &evaluation.case_ref)
            .await?
            .ok_or_else(|| Error::not_found(format!("no case `{}`", evaluation.case_ref.key())))?;
        evaluation::check_evaluable(&case.case_number, case.status)?;
        // The evaluation's instant is its status time. Never before the reply's: should the
        // replying service's clock run ahead of ours, the ordering guard still lets it through.
        let at = now_millis().max(case.status_at);
        let events = evaluation.events(&case.department).map(|(kind, payload)| {
            let mut event = new_event(kind, &case.case_id, SERVICE, payload);
            event.occurred_at = Some(timestamp(at));
            event
        });
        store::insert_evaluation(
            &mut tx,
            &events[0].id,
            &case.case_id,
            &evaluation,
            &case.department,
            at,
        )
        .await?;
        for event in &events {
            publish_own(&mut tx, &case, event, at).await?;
        }
        let answer = self.answer(&mut tx, &case, &Visibility::Every).await?;
        self.db.commit(tx).await?;
        tracing::info!(
            case_id = %case.case_id,
            department = %case.department,
            satisfaction = evaluation.satisfaction.as_str_name(),
            closed = evaluation.closes(),
            "case evaluated"
        );
        Ok(answer)
    }

    /// Adds the material the department asked for to a case the caller may see (one it may not
    /// is answered as unknown), in one transaction: the text (kept here, never published) and
    /// `case.supplemented` with its timeline line; dispatch then starts the department's clock
    /// again (`case.resumed`). Only a case AWAITING_SUPPLEMENT takes one. Answers the case.
    pub async fn add_supplement(
        &self,
        request: &AddSupplementRequest,
        scope: &Scope,
    ) -> Result<Case, Error> {
        let supplement = Supplement::parse(request)?;
        let visibility = Visibility::of(scope);
        let unknown = || Error::not_found(format!("no case `{}`", supplement.case_ref.key()));
        let mut tx = self.db.begin().await?;
        let case = store::case_state(&mut tx, &supplement.case_ref)
            .await?
            .ok_or_else(unknown)?;
        if !store::is_visible(&mut tx, &case.case_id, &visibility).await? {
            return Err(unknown());
        }
        yimen_platform::audit::note_case(&case.case_id);
        supplement::check_awaited(&case.case_number, case.status)?;
        let at = now_millis().max(case.status_at);
        let payload = Payload::CaseSupplemented(CaseSupplemented {
            department: case.department.clone(),
        });
        let mut event = new_event(CASE_SUPPLEMENTED, &case.case_id, SERVICE, payload);
        event.occurred_at = Some(timestamp(at));
        store::insert_supplement(
            &mut tx,
            &event.id,
            &case.case_id,
            &supplement.text,
            &case.department,
            at,
        )
        .await?;
        publish_own(&mut tx, &case, &event, at).await?;
        let answer = self.answer(&mut tx, &case, &visibility).await?;
        self.db.commit(tx).await?;
        tracing::info!(case_id = %case.case_id, department = %case.department, "supplement added");
        Ok(answer)
    }

    /// 撤回: the petitioner withdraws a case the caller may see (one it may not is answered as
    /// unknown), in one transaction: status WITHDRAWN and `case.withdrawn` with its timeline
    /// line; dispatch ends the open assignment and mediation an open mediation. A case the
    /// center is done with (closed, refused, forwarded, withdrawn) is FAILED_PRECONDITION.
    pub async fn withdraw(
        &self,
        request: &WithdrawCaseRequest,
        scope: &Scope,
    ) -> Result<Case, Error> {
        let withdrawal = Withdrawal::parse(request)?;
        let visibility = Visibility::of(scope);
        let unknown = || Error::not_found(format!("no case `{}`", withdrawal.case_ref.key()));
        let mut tx = self.db.begin().await?;
        let case = store::case_state(&mut tx, &withdrawal.case_ref)
            .await?
            .ok_or_else(unknown)?;
        if !store::is_visible(&mut tx, &case.case_id, &visibility).await? {
            return Err(unknown());
        }
        yimen_platform::audit::note_case(&case.case_id);
        withdrawal::check_withdrawable(&case.case_number, case.status)?;
        let at = now_millis().max(case.status_at);
        let (kind, payload) = withdrawal.event(&case.department);
        let mut event = new_event(kind, &case.case_id, SERVICE, payload);
        event.occurred_at = Some(timestamp(at));
        publish_own(&mut tx, &case, &event, at).await?;
        let answer = self.answer(&mut tx, &case, &visibility).await?;
        self.db.commit(tx).await?;
        tracing::info!(case_id = %case.case_id, department = %case.department, "case withdrawn");
        Ok(answer)
    }

    /// The case as it stands inside `tx`, as `visibility` shows it: what a step answers.
    async fn answer(
        &self,
        tx: &mut Tx,
        case: &store::CaseState,
        visibility: &Visibility,
    ) -> Result<Case, Error> {
        store::find_case(
            tx,
            &CaseRef::Id(case.case_id.clone()),
            visibility,
            &self.keyring,
        )
        .await?
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("case {} vanished", case.case_id)))
    }

    /// The petitioner's own view of a case, for the holder of its number and query code. An
    /// unknown number and a wrong code answer the very same NOT_FOUND, so neither is hinted.
    pub async fn status(&self, request: &GetCaseStatusRequest) -> Result<CaseStatusView, Error> {
        let number = request.case_number.trim();
        let mut conn = self.db.pool().acquire().await?;
        store::status_view(&mut conn, number, &query_code::hash(&request.query_code))
            .await?
            .ok_or_else(|| Error::not_found(NO_SUCH_CASE))
    }

    /// One page of the cases the caller may read that match the request's filters.
    pub async fn list(
        &self,
        request: &ListCasesRequest,
        scope: &Scope,
    ) -> Result<ListCasesResponse, Error> {
        let filter = CaseFilter::parse(request)?;
        let mut conn = self.db.pool().acquire().await?;
        let (cases, next) = store::list_cases(&mut conn, &filter, &Visibility::of(scope)).await?;
        Ok(ListCasesResponse {
            cases,
            next_page_token: next,
        })
    }
}

impl Intake {
    /// The matter closed for good that `case` repeats (不再受理), if any: refused unless the
    /// submission states new facts, in which case it is answered so the registration names it.
    async fn repeated_matter(
        &self,
        case: &NewCase,
        keys: &[String],
    ) -> Result<Option<ClosedMatter>, Error> {
        if keys.is_empty() {
            return Ok(None);
        }
        let closed = {
            let mut conn = self.db.pool().acquire().await?;
            store::closed_matters_of(&mut conn, keys).await?
        };
        let Some(earlier) = same_matter::repeated(
            &closed,
            case.category as i32,
            &case.subject,
            self.same_matter_similarity,
        ) else {
            return Ok(None);
        };
        if case.new_facts.is_none() {
            tracing::info!(earlier = %earlier.case_number, "submission of a matter closed for good refused (不再受理)");
            return Err(same_matter::refusal(earlier));
        }
        Ok(Some(earlier.clone()))
    }

    /// 复查 / 复核: records the petitioner's request for a review of the latest answer of a case
    /// the caller may see (one it may not is answered as unknown), in one transaction: the
    /// reason (kept here, never published) and `case.review_requested` with its timeline line
    /// (status UNDER_REVIEW); dispatch gives it to the review body. Refused FAILED_PRECONDITION
    /// unless the case is REPLIED or CLOSED, answered within the window, short of its two
    /// stages and not closed for good. Answers the case.
    pub async fn request_review(
        &self,
        request: &RequestReviewRequest,
        scope: &Scope,
    ) -> Result<Case, Error> {
        let review = ReviewRequest::parse(request)?;
        let visibility = Visibility::of(scope);
        let unknown = || Error::not_found(format!("no case `{}`", review.case_ref.key()));
        let mut tx = self.db.begin().await?;
        let case = store::case_state(&mut tx, &review.case_ref)
            .await?
            .ok_or_else(unknown)?;
        if !store::is_visible(&mut tx, &case.case_id, &visibility).await? {
            return Err(unknown());
        }
        yimen_platform::audit::note_case(&case.case_id);
        let standing = store::review_standing(&mut tx, &case).await?;
        let at = now_millis().max(case.status_at);
        let stage = review::next_stage(&standing, &self.review_window, at)?;
        let payload = review::requested(stage, &case.department);
        let mut event = new_event(CASE_REVIEW_REQUESTED, &case.case_id, SERVICE, payload);
        event.occurred_at = Some(timestamp(at));
        store::insert_review_request(
            &mut tx,
            &event.id,
            &case.case_id,
            stage,
            &case.department,
            &review.reason,
            at,
        )
        .await?;
        publish_own(&mut tx, &case, &event, at).await?;
        let answer = self.answer(&mut tx, &case, &visibility).await?;
        self.db.commit(tx).await?;
        tracing::info!(case_id = %case.case_id, department = %case.department, stage = stage.as_str_name(), "review requested");
        Ok(answer)
    }
}

/// Records an event intake publishes about `case` (read at `case.status_at`) in its timeline
/// and status, and puts it in the outbox, in `tx`. Should another event have moved the case
/// between the read and this write, FAILED_PRECONDITION: the rollback keeps nothing of the step.
async fn publish_own(
    tx: &mut Tx,
    case: &store::CaseState,
    event: &Event,
    at: i64,
) -> Result<(), Error> {
    let progress = progress::of(event)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("{} does not move a case", event.r#type)))?;
    if !store::record(tx, &case.case_id, &event.id, at, &progress, case.status_at).await? {
        return Err(Error::precondition(format!(
            "case {} changed meanwhile; read it again",
            case.case_number
        )));
    }
    outbox::enqueue(tx, event).await?;
    Ok(())
}

/// 当场答复 / 当场调处: the reply given at the desk as the case was registered, recorded in `tx`
/// right after its registration line: the case is REPLIED, held by no department, waiting for
/// the petitioner's evaluation. The line is no event of its own (`case.registered` says the
/// case was settled), so it takes an id of its own.
async fn settle_at_desk(
    tx: &mut Tx,
    case_id: &str,
    desk: &DeskReply,
    registered_at: i64,
) -> Result<(), Error> {
    let line_id = uuid::Uuid::now_v7().to_string();
    if !store::record(
        tx,
        case_id,
        &line_id,
        registered_at,
        &desk.progress(),
        registered_at,
    )
    .await?
    {
        return Err(Error::Internal(anyhow::anyhow!(
            "case {case_id} moved while it was registered"
        )));
    }
    Ok(())
}

/// The case numbers this process has reserved, a block per year (`intake.case_number_block`).
struct CaseNumbers {
    db: Db,
    block: i64,
    reserved: Mutex<HashMap<i32, NumberBlock>>,
}

impl CaseNumbers {
    fn new(db: Db, block: u32) -> Self {
        Self {
            db,
            block: i64::from(block),
            reserved: Mutex::new(HashMap::new()),
        }
    }

    /// The next reserved number of `year`, reserving a new block (committed at once, on its
    /// own) when this one is used up; `None` when numbers are not reserved ahead, so the
    /// registration takes its own inside its transaction.
    async fn take(&self, year: i32) -> Result<Option<i64>, Error> {
        if self.block == 0 {
            return Ok(None);
        }
        let mut reserved = self.reserved.lock().await;
        if let Some(seq) = reserved.get_mut(&year).and_then(NumberBlock::take) {
            return Ok(Some(seq));
        }
        let mut tx = self.db.begin().await?;
        let last = store::advance_case_seq(&mut tx, year, self.block).await?;
        self.db.commit(tx).await?;
        let mut block = NumberBlock::ending_at(last, self.block);
        let seq = block.take();
        reserved.insert(year, block);
        Ok(seq)
    }
}
