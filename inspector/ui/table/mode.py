"""The checkpoint view's Tree | Table switch: builds the flat table on first use and keeps
the current tensor across the two (a mixin of :class:`~inspector.ui.checkpoint_view.CheckpointView`,
which owns ``table``, ``tree``, ``_left_stack``, ``filter_bar`` and ``_current_path``)."""

from __future__ import annotations

from inspector.ui.tree.copy_menu import install_copy_menu


class TableMode:
    """Tree | Table for the checkpoint view."""

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
        node = self.ckpt.find(path)
        if node is not None and node.tensor is not None:
            panel = self._ensure_tensor_panel()
            panel.show_tensor(self.ckpt, node, self.model.stats(path))
            error = self.model.stats_error(path)
            if self.model.stats(path) is None and error:
                panel.set_stats_error(error)
        self.sig_current_changed.emit(path)


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
