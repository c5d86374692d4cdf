/** Small forms the commands ask with (JupyterLab's own dialogs). */
import { Dialog, InputDialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

/** A form of labelled text inputs whose values the dialog returns. */
class FormBody extends Widget implements Dialog.IBodyWidget<Record<string, string>> {
  constructor(fields: { name: string; label: string; value?: string; placeholder?: string }[]) {
    super();
    this.addClass('nbdocker-Form');
    for (const field of fields) {
      const label = document.createElement('label');
      label.textContent = field.label;
      const input = document.createElement('input');
      input.className = 'jp-mod-styled';
      input.name = field.name;
      input.value = field.value ?? '';
      input.placeholder = field.placeholder ?? '';
      label.appendChild(input);
      this.node.appendChild(label);
      this._inputs.push(input);
    }
  }

  getValue(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const input of this._inputs) {
      out[input.name] = input.value.trim();
    }
    return out;
  }

  protected onAfterAttach(): void {
    this._inputs[0]?.focus();
  }

  private _inputs: HTMLInputElement[] = [];
}

export async function askForm(
  title: string,
  fields: { name: string; label: string; value?: string; placeholder?: string }[],
  accept: string
): Promise<Record<string, string> | null> {
  const result = await showDialog({
    title,
    body: new FormBody(fields),
    buttons: [Dialog.cancelButton(), Dialog.okButton({ label: accept })],
    focusNodeSelector: 'input'
  });
  return result.button.accept ? result.value : null;
}

export async function askText(
  title: string,
  label: string,
  value: string,
  accept: string
): Promise<string | null> {
  const result = await InputDialog.getText({ title, label, text: value, okLabel: accept });
  const text = result.value?.trim();
  return result.button.accept && text ? text : null;
}

export async function askItem(title: string, label: string, items: string[]): Promise<string | null> {
  if (items.length === 0) {
    return null;
  }
  const result = await InputDialog.getItem({ title, label, items });
  return result.button.accept ? result.value : null;
}

export async function confirm(title: string, text: string, accept: string): Promise<boolean> {
  const result = await showDialog({
    title,
    body: text,
    buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: accept })]
  });
  return result.button.accept;
}

export async function failed(title: string, error: unknown): Promise<void> {
  await showErrorMessage(title, (error as Error).message ?? String(error));
}

/** A read-only text listing in a dialog (a container's diff). */
export async function showListing(title: string, lines: string[], empty: string): Promise<void> {
  const body = new Widget();
  body.addClass('nbdocker-Listing');
  const pre = document.createElement('pre');
  pre.textContent = lines.length ? lines.join('\n') : empty;
  body.node.appendChild(pre);
  await showDialog({ title, body, buttons: [Dialog.okButton({ label: 'Close' })] });
}
