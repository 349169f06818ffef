/** The kernel's latest problems (each also a SentrycamWarning in the notebook) and the view's own errors. */
export class ProblemBar {
  private readonly errors: HTMLDivElement;
  private readonly problems: HTMLUListElement;

  constructor(parent: HTMLElement) {
    this.errors = document.createElement("div");
    this.errors.className = "sentrycam-error";
    this.problems = document.createElement("ul");
    this.problems.className = "sentrycam-problems";
    parent.append(this.errors, this.problems);
  }

  /** The last three notices. */
  showProblems(notices: readonly string[]): void {
    this.problems.replaceChildren(
      ...notices.slice(-3).map((text) => {
        const li = document.createElement("li");
        li.textContent = text;
        return li;
      }),
    );
  }

  /** One more error line (the last five are kept). */
  showError(message: string): void {
    const line = document.createElement("div");
    line.textContent = message;
    this.errors.appendChild(line);
    while (this.errors.childElementCount > 5) this.errors.firstElementChild?.remove();
  }
}
