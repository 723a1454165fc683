"""Models made in a session join that session's model picker, and only that session's."""

from streamlit.testing.v1 import AppTest

from tests.pagetest import TIMEOUT, assert_clean


def picker_script():
    import streamlit as st

    from cnnviz import models
    from cnnviz.train.transfer import fine_tuned
    from cnnviz.train import transfer
    from cnnviz.ui.pickers import model_picker
    from cnnviz.ui.session_models import register, session_bundles

    if st.session_state.get("make"):
        net = transfer.build(models.load_model(), 3)
        register(fine_tuned.as_bundle(net, models.load_model(), ["red", "black", "desert"],
                                      "fine-tuned in a test"))
    bundle = model_picker()
    st.write(f"picked: {bundle.label} · classes: {len(bundle.categories)}")
    st.write(f"session models: {list(session_bundles())}")


def test_a_registered_model_is_offered_and_returned_by_the_picker():
    at = AppTest.from_function(picker_script, default_timeout=TIMEOUT)
    at.session_state["make"] = True
    at.run()
    assert_clean(at)
    label = "efficientnet_lite0 fine-tuned (red, black, desert)"
    picker = at.selectbox(key="model")
    assert label in picker.options and picker.options[0] == "efficientnet_lite0 (offline, pretrained)"
    picker.set_value(label).run()
    assert_clean(at)
    assert f"picked: {label} · classes: 3" in at.markdown[0].value
    assert not at.checkbox  # no "untrained" switch for a session's own model


def test_another_session_does_not_see_it():
    at = AppTest.from_function(picker_script, default_timeout=TIMEOUT)
    at.run()
    assert_clean(at)
    assert not any("fine-tuned" in option for option in at.selectbox(key="model").options)
    assert "session models: []" in at.markdown[1].value
