from backend.enums import Channel
from backend.gateway.dedup import first_delivery


def test_an_update_is_handled_once_per_channel(db_session):
    assert first_delivery(db_session=db_session, channel=Channel.TELEGRAM, update_id="42")
    assert not first_delivery(db_session=db_session, channel=Channel.TELEGRAM, update_id="42")
    assert not first_delivery(db_session=db_session, channel=Channel.TELEGRAM, update_id="42")
    # The same id on another channel is another update.
    assert first_delivery(db_session=db_session, channel=Channel.WHATSAPP, update_id="42")
