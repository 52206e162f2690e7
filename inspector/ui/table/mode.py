"""The checkpoint view's Tree | Table switch: builds the flat table on first use and keeps
the current tensor across the two (a mixin of :class:`~inspector.ui.checkpoint_view.CheckpointView`,
which owns ``table``, ``tree``, ``_left_stack``, ``filter_bar`` and ``_current_path``)."""

from __future__ import annotations

from inspector.ui.tree.copy_menu import install_copy_menu


class TableMode:
    """Tree | Table for the checkpoint view."""

    _filtered_out = False  # the current tensor is hidden by the filter (the panel is empty)

    def show_mode(self, mode: str) -> None:
        """Show the tree ("tree") or the flat table of every tensor ("table")."""
        if self._left_stack is None:
            return
        button = self.filter_bar.table_button if mode == "table" else self.filter_bar.tree_button
        if not button.isChecked():
            button.setChecked(True)  # comes back here through sig_mode
            return
        if mode == "table":
            if self.table is None:
                self._build_table()
            self._left_stack.setCurrentWidget(self.table)
            if self._current_path is not None:
                self.table.select_path(self._current_path)
            self.table.setFocus()
        else:
            self._left_stack.setCurrentWidget(self.tree)
            if self._current_path is not None:
                self.select_path(self._current_path)
            self.tree.setFocus()
        self.apply_filter()

    def keep_current(self, select) -> bool:
        """After a filter change: make the current tensor current again with ``select(path)``;
        when the filter hides it, nothing is selected and the panel shows nothing (the tensor
        stays remembered: it comes back selected once the filter shows it again)."""
        path = self._current_path
        if path is None:
            return False
        if select(path):
            if self._filtered_out:  # shown again: the panel follows even if Qt kept the row
                self._filtered_out = False
                self._show_path(path)
            return True
        self._filtered_out = True
        if self.tensor_panel is not None:
            self.tensor_panel.clear()
        return False

    def is_table_shown(self) -> bool:
        return self.table is not None and self._left_stack.currentWidget() is self.table

    def _build_table(self) -> None:
        from inspector.ui.table import FlatTable

        self.table = FlatTable(self.ckpt, self.model.stats, self._settings,
                               self.model.widest_texts())
        self.table.table_model.set_stats_pending(self.stats_running)
        self.table.sig_current_changed.connect(self._on_table_current)
        install_copy_menu(self.table, self.table.row_texts)
        self._left_stack.addWidget(self.table)

    def _on_table_current(self, path: tuple) -> None:
        self._current_path = path
        self._filtered_out = False
        self._show_path(path)
        self.sig_current_changed.emit(path)

    def _show_path(self, path: tuple) -> None:
        node = self.ckpt.find(path)
        if node is not None and node.tensor is not None:
            panel = self._ensure_tensor_panel()
            panel.show_tensor(self.ckpt, node, self.model.stats(path))
            error = self.model.stats_error(path)
            if self.model.stats(path) is None and error:
                panel.set_stats_error(error)


class InferenceShortcut:
    """Ctrl+R on the Tensors tab (a mixin of the checkpoint view, which owns
    ``_inference_view``, ``inference_panel`` and ``select_view``)."""

    def run_inference(self) -> bool:
        """Ctrl+R on the Tensors tab: show the Inference tab and run the model there (or say
        why not, in the status bar). Returns True when a run started."""
        say = getattr(self.window(), "statusBar", None)
        if self._inference_view is None:
            if say is not None:
                say().showMessage("Ctrl+R runs a model on the Inference tab; this file has "
                                  "no tensors to run", 6000)
            return False
        self.select_view("Inference")
        started = bool(self.inference_panel.run())
        if say is not None:
            say().showMessage("Running the model on the Inference tab (Ctrl+R)" if started
                              else "Ctrl+R: see the Inference tab for why the model cannot "
                                   "run yet", 6000)
        return started
