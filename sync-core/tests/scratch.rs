mod common;
use common::*;
use sync_core::{ActivityId, ActivityPatch, Journal};
#[test]
fn dup() {
    let mut a = Journal::new(actor(1));
    let id = ActivityId::new_random();
    a.create(
        id,
        &ActivityPatch {
            organisers: Some(vec!["Anna".into()]),
            ..minimal("T")
        },
        stamp("A", 0),
    )
    .unwrap();
    let mut b = Journal::new(actor(2));
    b.doc_mut().merge(a.doc_mut()).unwrap();
    let p = ActivityPatch {
        organisers: Some(vec!["Anna".into(), "Jānis".into()]),
        ..Default::default()
    };
    a.update(id, &p, stamp("A", 1)).unwrap();
    b.update(id, &p, stamp("B", 1)).unwrap();
    a.doc_mut().merge(b.doc_mut()).unwrap();
    println!("{:?}", a.get(id).unwrap().unwrap().organisers);
    // now edit on a: remove Anna
    let p2 = ActivityPatch {
        organisers: Some(vec!["Jānis".into()]),
        ..Default::default()
    };
    a.update(id, &p2, stamp("A", 2)).unwrap();
    println!("{:?}", a.get(id).unwrap().unwrap().organisers);
    // idempotent patch with same list on dup state
}
