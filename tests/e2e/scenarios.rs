//! The seed's seven scenarios, played through the public API by the same player as `make run`,
//! in both modes; each test asserts where its scenario ends, as every service saw it.

use yimen::scenarios::{Journey, Player, Scenario};
use yimen_e2e::*;
use yimen_proto::v1::*;

both_modes!(
    expo_merchants_collective_no_owner_civil_commercial_agreement_54000,
    grain_money_court_entrusted_three_year_installments_confirmed,
    medical_insurance_returned_escalated_to_leader_and_settled,
    property_company_ten_mediators_housing_committee,
    fertilizer_plant_death_settled_by_the_town_5x_unit,
    renovation_fall_city_guides_town_mediation,
    letter_to_secretary_repeat_petitioner_both_cases_closed,
);

/// Plays `scenario` on a fresh installation, mediators registered first.
async fn play(clients: &Clients, scenario: Scenario) -> Journey {
    let player = Player::new(clients.clone(), |line| eprintln!("{line}"));
    player.seed_mediators().await.expect("register mediators");
    player.play(scenario).await.expect("the scenario plays")
}

async fn case(clients: &Clients, case_id: &str) -> Case {
    clients
        .intake
        .clone()
        .get_case(GetCaseRequest {
            case_ref: case_id.into(),
            after_position: 0,
        })
        .await
        .expect("get case")
        .into_inner()
}

fn kinds(case: &Case) -> Vec<&str> {
    case.timeline.iter().map(|t| t.kind.as_str()).collect()
}

async fn mediation_files(clients: &Clients, case_id: &str) -> Vec<MediationFile> {
    clients
        .mediation
        .clone()
        .list_mediations(ListMediationsRequest {
            case_id: case_id.into(),
            ..Default::default()
        })
        .await
        .expect("list mediations")
        .into_inner()
        .mediations
}

async fn only_file(clients: &Clients, case_id: &str) -> MediationFile {
    let mut files = mediation_files(clients, case_id).await;
    assert_eq!(files.len(), 1, "one mediation file: {files:?}");
    files.remove(0)
}

/// Waits until analysis has raised an alert of `kind` on the case.
async fn alert(clients: &Clients, case_id: &str, kind: AlertKind) -> Alert {
    until(&format!("a {kind:?} alert on {case_id}"), || async {
        clients
            .analysis
            .clone()
            .list_alerts(ListAlertsRequest {
                include_acknowledged: true,
                kind: kind as i32,
                case_id: case_id.into(),
                ..Default::default()
            })
            .await
            .expect("list alerts")
            .into_inner()
            .alerts
            .into_iter()
            .next()
    })
    .await
}

async fn alert_kinds(clients: &Clients, case_id: &str) -> Vec<AlertKind> {
    clients
        .analysis
        .clone()
        .list_alerts(ListAlertsRequest {
            include_acknowledged: true,
            case_id: case_id.into(),
            ..Default::default()
        })
        .await
        .expect("list alerts")
        .into_inner()
        .alerts
        .iter()
        .map(|a| a.kind())
        .collect()
}

/// The department's scorecard for the current month, once `ready` holds for it.
async fn scorecard(
    clients: &Clients,
    department: &str,
    ready: impl Fn(&Scorecard) -> bool,
) -> Scorecard {
    until(&format!("{department}'s scorecard"), || async {
        clients
            .assessment
            .clone()
            .get_scorecard(GetScorecardRequest {
                department: department.into(),
                period: None,
            })
            .await
            .expect("get scorecard")
            .into_inner()
            .scorecards
            .into_iter()
            .find(|c| c.department == department && ready(c))
    })
    .await
}

async fn negative_entries(clients: &Clients, department: &str) -> Vec<NegativeEntry> {
    clients
        .assessment
        .clone()
        .list_negative_list(ListNegativeListRequest {
            period: None,
            department: department.into(),
        })
        .await
        .expect("negative list")
        .into_inner()
        .entries
}

fn closed(case: &Case) {
    assert_eq!(case.status(), CaseStatus::Closed, "{case:?}");
    let kinds = kinds(case);
    assert!(kinds.contains(&"case.evaluated"), "{kinds:?}");
    assert!(kinds.contains(&"case.closed"), "{kinds:?}");
}

async fn expo_merchants_collective_no_owner_civil_commercial_agreement_54000(clients: &Clients) {
    let journey = play(clients, Scenario::ExpoMerchants).await;
    let id = journey.case_id();
    let collective = alert(clients, id, AlertKind::Collective).await;
    assert!(
        collective.facts.iter().any(|f| f.contains("19")),
        "the facts say how many came: {:?}",
        collective.facts
    );
    alert(clients, id, AlertKind::NoOwner).await;

    let file = only_file(clients, id).await;
    assert_eq!(file.committee, "civil-commercial");
    assert_eq!(file.linkage(), Linkage::Petition);
    assert_eq!(file.state(), MediationState::Agreed);
    assert_eq!(file.referred_by, "city-center");
    let agreement = file.agreement.expect("the agreement");
    assert_eq!(agreement.amount.map(|m| m.fen), Some(5_400_000));

    let case = case(clients, id).await;
    assert_eq!(case.department, "city-center");
    assert!(case.collective);
    closed(&case);
    let kinds = kinds(&case);
    for kind in [
        "case.referred",
        "mediation.opened",
        "mediation.concluded",
        "case.replied",
        "alert.raised",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }

    scorecard(clients, "city-center", |c| {
        c.evaluated >= 1 && c.negative_entries >= 1
    })
    .await;
    let entries = negative_entries(clients, "city-center").await;
    assert!(
        entries.iter().any(|e| e.case_id == id
            && e.case_number == journey.cases[0].1
            && e.kind() == NegativeKind::Collective),
        "{entries:?}"
    );
}

async fn grain_money_court_entrusted_three_year_installments_confirmed(clients: &Clients) {
    let journey = play(clients, Scenario::GrainMoney).await;
    let id = journey.case_id();
    let file = only_file(clients, id).await;
    assert_eq!(file.linkage(), Linkage::Court);
    assert_eq!(file.committee, "civil-commercial");
    assert_eq!(file.state(), MediationState::CourtConfirmed);
    assert!(file.referred_by.is_empty(), "opened directly by the court");
    assert_eq!(
        file.case_number, journey.cases[0].1,
        "the court's file knows the number"
    );
    let agreement = file.agreement.expect("the agreement");
    assert_eq!(agreement.amount.map(|m| m.fen), Some(210_000_000));
    assert!(agreement.payee.contains("74"), "{}", agreement.payee);
    assert_eq!(agreement.installments.len(), 3);
    let dues: Vec<i64> = agreement
        .installments
        .iter()
        .map(|i| i.due.map_or(0, |t| t.seconds))
        .collect();
    let years = (dues[2] - dues[0]) / (365 * 24 * 3600);
    assert_eq!(years, 2, "three yearly installments: {dues:?}");

    alert(clients, id, AlertKind::Collective).await;
    let case = case(clients, id).await;
    assert_eq!(case.department, "agriculture");
    assert_eq!(case.headcount, 74);
    closed(&case);
    let kinds = kinds(&case);
    assert!(kinds.contains(&"mediation.court_confirmed"), "{kinds:?}");
    scorecard(clients, "agriculture", |c| {
        c.replied >= 1 && c.evaluated >= 1
    })
    .await;
}

async fn medical_insurance_returned_escalated_to_leader_and_settled(clients: &Clients) {
    let journey = play(clients, Scenario::MedicalInsurance).await;
    let id = journey.case_id();
    let case = case(clients, id).await;
    assert_eq!(case.department, "city-center");
    closed(&case);
    let kinds = kinds(&case);
    assert!(kinds.contains(&"case.returned"), "{kinds:?}");
    assert!(kinds.contains(&"case.escalated"), "{kinds:?}");

    let assignments = clients
        .dispatch
        .clone()
        .list_assignments(ListAssignmentsRequest {
            department: "city-center".into(),
            ..Default::default()
        })
        .await
        .expect("list assignments")
        .into_inner()
        .assignments;
    let held = assignments
        .iter()
        .find(|a| a.case_id == id)
        .expect("the city center's assignment");
    assert_eq!(held.escalation(), EscalationLevel::Leader);
    assert!(held.leader.contains("副市长"), "{}", held.leader);
    assert_eq!(held.state(), AssignmentState::Replied);

    // Returned by the bureau, the tax bureau and the bank: a problem case (问题件).
    assert_eq!(
        kinds.iter().filter(|k| **k == "case.returned").count(),
        3,
        "{kinds:?}"
    );
    let insurance = scorecard(clients, "medical-insurance", |c| c.returned >= 1).await;
    assert_eq!(insurance.returned, 1);
    // The two earlier cases of the same fault were searched out, sent back to the bureau and
    // settled again.
    let (earlier, _) = journey.cases.split_at(journey.cases.len() - 1);
    assert_eq!(earlier.len(), 2);
    for (earlier_id, _) in earlier {
        let again = self::case(clients, earlier_id).await;
        assert_eq!(again.department, "medical-insurance");
        closed(&again);
        assert!(
            again
                .timeline
                .iter()
                .any(|t| t.kind == "case.assigned" && t.summary.contains("全面排查")),
            "{:?}",
            self::kinds(&again)
        );
    }
    scorecard(clients, "city-center", |c| c.negative_entries >= 1).await;
    let entries = negative_entries(clients, "city-center").await;
    assert!(
        entries
            .iter()
            .any(|e| e.case_id == id && e.kind() == NegativeKind::Escalated),
        "{entries:?}"
    );
}

async fn property_company_ten_mediators_housing_committee(clients: &Clients) {
    let journey = play(clients, Scenario::PropertyCompany).await;
    let id = journey.case_id();
    let file = only_file(clients, id).await;
    assert_eq!(file.committee, "housing");
    assert_eq!(file.linkage(), Linkage::Administrative);
    assert_eq!(file.referred_by, "housing");
    assert_eq!(file.mediators.len(), 10, "{:?}", file.mediators);
    assert_eq!(file.state(), MediationState::Agreed);
    alert(clients, id, AlertKind::Collective).await;
    let case = case(clients, id).await;
    closed(&case);
    let housing = scorecard(clients, "housing", |c| c.evaluated >= 1).await;
    assert_eq!(
        housing.satisfied, 1,
        "basically satisfied counts as satisfied"
    );
}

async fn fertilizer_plant_death_settled_by_the_town_5x_unit(clients: &Clients) {
    let journey = play(clients, Scenario::FertilizerPlant).await;
    let id = journey.case_id();
    let case = case(clients, id).await;
    assert_eq!(
        case.department, "linkuang-5x",
        "the town's unit, not the city's"
    );
    closed(&case);
    assert!(mediation_files(clients, id).await.is_empty());
    let unit = scorecard(clients, "linkuang-5x", |c| c.evaluated >= 1).await;
    assert_eq!(
        (unit.accepted_in_time, unit.replied_in_time),
        (1, 1),
        "{unit:?}"
    );
    assert!(
        !alert_kinds(clients, id)
            .await
            .contains(&AlertKind::Collective),
        "four people are not a collective petition"
    );
}

async fn renovation_fall_city_guides_town_mediation(clients: &Clients) {
    let journey = play(clients, Scenario::RenovationFall).await;
    let id = journey.case_id();
    let case = case(clients, id).await;
    assert_eq!(case.department, "shipai-center");
    closed(&case);
    let file = only_file(clients, id).await;
    assert_eq!(file.linkage(), Linkage::Guidance);
    assert_eq!(file.referred_by, "shipai-center");
    assert_eq!(file.committee, "civil-commercial");
    assert_eq!(
        file.agreement.and_then(|a| a.amount).map(|m| m.fen),
        Some(73_412_000)
    );
}

async fn letter_to_secretary_repeat_petitioner_both_cases_closed(clients: &Clients) {
    let journey = play(clients, Scenario::LetterToSecretary).await;
    assert_eq!(journey.cases.len(), 2);
    let (earlier_id, earlier_number) = &journey.cases[0];
    let letter_id = journey.case_id();
    let repeat = alert(clients, letter_id, AlertKind::RepeatPetitioner).await;
    assert!(
        repeat.facts.iter().any(|f| f.contains(earlier_number)),
        "the facts name the earlier case: {:?}",
        repeat.facts
    );
    assert!(
        !repeat.facts.iter().any(|f| f.contains("420881")),
        "never an identity number in the facts"
    );
    assert!(
        !alert_kinds(clients, earlier_id)
            .await
            .contains(&AlertKind::RepeatPetitioner),
        "the first case is not a repeat"
    );
    for id in [earlier_id.as_str(), letter_id] {
        let case = case(clients, id).await;
        assert_eq!(case.department, "yingzhong-office");
        closed(&case);
    }
    let letter = case(clients, letter_id).await;
    assert_eq!(letter.channel(), Channel::GovernmentReferral);
    // Civil affairs and human resources each replied a part; the street office answered once.
    let kinds: Vec<&str> = letter.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "case.part_replied").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(kinds.iter().filter(|k| **k == "case.replied").count(), 1);
    // The secretary's instruction was reported back by its deadline.
    let instructions = clients
        .dispatch
        .clone()
        .list_instructions(ListInstructionsRequest::default())
        .await
        .expect("instructions")
        .into_inner()
        .instructions;
    assert_eq!(instructions.len(), 1, "{instructions:?}");
    assert_eq!(instructions[0].case_id, letter_id);
    assert_eq!(instructions[0].department, "yingzhong-office");
    assert!(instructions[0].reported_at.is_some() && !instructions[0].overdue);
}

/// `make run`'s demo: all seven in one installation, and the summaries add up — in particular
/// no one but the letter's writer is taken for a repeat petitioner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_plays_all_seven_and_the_summaries_add_up() {
    let s = Standalone::start().await.expect("start standalone");
    let clients = &s.clients;
    yimen::scenarios::demo(clients.clone(), |line| eprintln!("{line}"))
        .await
        .expect("the demo plays");
    let situation = clients
        .analysis
        .clone()
        .get_situation(GetSituationRequest { period: None })
        .await
        .expect("situation")
        .into_inner();
    // Scenario 3 has two earlier cases of its fault, swept and settled again.
    assert_eq!(
        (situation.cases, situation.closed, situation.open),
        (10, 10, 0)
    );
    assert_eq!(situation.collective, 3, "expo, grain money, property");
    let alerts = clients
        .analysis
        .clone()
        .list_alerts(ListAlertsRequest {
            include_acknowledged: true,
            ..Default::default()
        })
        .await
        .expect("alerts")
        .into_inner()
        .alerts;
    let count = |kind: AlertKind| alerts.iter().filter(|a| a.kind() == kind).count();
    assert_eq!(count(AlertKind::Collective), 3);
    assert_eq!(count(AlertKind::NoOwner), 1, "only the expo has no owner");
    assert_eq!(count(AlertKind::RepeatPetitioner), 1, "only the letter");
    let cards = clients
        .assessment
        .clone()
        .get_scorecard(GetScorecardRequest::default())
        .await
        .expect("scorecards")
        .into_inner()
        .scorecards;
    let total = |figure: fn(&Scorecard) -> u64| cards.iter().map(figure).sum::<u64>();
    // The two swept cases were evaluated twice: before the sweep and after.
    assert_eq!(total(|c| c.evaluated), 12);
    assert_eq!(total(|c| c.closed), 12, "every reply settled its case");
    assert_eq!(total(|c| c.reopened), 0);
    s.stop().await;
}
